using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Scheduler.IntegrationTests;

/// <summary>A span as an OTLP collector received it, with the service that sent it.</summary>
public sealed record ReceivedSpan(string Service, string Name, string TraceId, string SpanId, string ParentSpanId, IReadOnlyDictionary<string, string> Attributes);

/// <summary>
/// A tiny OTLP/HTTP (protobuf) collector on loopback, so a test can see the spans real master and
/// worker processes export without an external collector. It answers every export with success and
/// decodes only what the tests ask about; the field numbers are those of opentelemetry-proto
/// (collector/trace/v1 and trace/v1), read with Google.Protobuf's wire reader.
/// </summary>
public sealed class OtlpCollector : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<ReceivedSpan> _spans = new();

    private OtlpCollector(WebApplication app) => _app = app;

    public string Endpoint { get; private set; } = "";

    public IReadOnlyCollection<ReceivedSpan> Spans => _spans;

    public static async Task<OtlpCollector> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        var collector = new OtlpCollector(app);
        app.MapPost("/v1/traces", collector.ReceiveTracesAsync);
        app.MapPost("/v1/metrics", Accept);
        app.MapPost("/v1/logs", Accept);
        await app.StartAsync();
        collector.Endpoint = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.First();
        return collector;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private static IResult Accept() => Results.Bytes([], "application/x-protobuf");

    private async Task<IResult> ReceiveTracesAsync(HttpRequest request)
    {
        using var body = new MemoryStream();
        await request.Body.CopyToAsync(body);
        foreach (var span in DecodeExport(body.ToArray()))
        {
            _spans.Enqueue(span);
        }

        return Accept();
    }

    // ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1; }
    private static List<ReceivedSpan> DecodeExport(byte[] data)
    {
        var spans = new List<ReceivedSpan>();
        foreach (var (field, value) in Fields(data))
        {
            if (field == 1)
            {
                spans.AddRange(DecodeResourceSpans(value));
            }
        }

        return spans;
    }

    // ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2; }
    // Resource { repeated KeyValue attributes = 1; }  ScopeSpans { repeated Span spans = 2; }
    private static IEnumerable<ReceivedSpan> DecodeResourceSpans(ByteString data)
    {
        var service = "";
        var spans = new List<ByteString>();
        foreach (var (field, value) in Fields(data.ToByteArray()))
        {
            if (field == 1)
            {
                var attributes = Attributes(value);
                service = attributes.GetValueOrDefault("service.name", "");
            }
            else if (field == 2)
            {
                spans.AddRange(Fields(value.ToByteArray()).Where(f => f.Field == 2).Select(f => f.Value));
            }
        }

        return spans.Select(s => DecodeSpan(service, s));
    }

    // Span { bytes trace_id = 1; bytes span_id = 2; bytes parent_span_id = 4; string name = 5; repeated KeyValue attributes = 9; }
    private static ReceivedSpan DecodeSpan(string service, ByteString data)
    {
        string traceId = "", spanId = "", parent = "", name = "";
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (field, value) in Fields(data.ToByteArray()))
        {
            switch (field)
            {
                case 1: traceId = Convert.ToHexStringLower(value.Span); break;
                case 2: spanId = Convert.ToHexStringLower(value.Span); break;
                case 4: parent = Convert.ToHexStringLower(value.Span); break;
                case 5: name = value.ToStringUtf8(); break;
                case 9:
                    var (key, text) = KeyValue(value);
                    attributes[key] = text;
                    break;
            }
        }

        return new ReceivedSpan(service, name, traceId, spanId, parent, attributes);
    }

    private static Dictionary<string, string> Attributes(ByteString resource) =>
        Fields(resource.ToByteArray()).Where(f => f.Field == 1).Select(f => KeyValue(f.Value))
            .GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Last().Value, StringComparer.Ordinal);

    // KeyValue { string key = 1; AnyValue value = 2; }  AnyValue { string string_value = 1; bool bool_value = 2; int64 int_value = 3; double double_value = 4; }
    private static (string Key, string Value) KeyValue(ByteString data)
    {
        var key = "";
        var text = "";
        var input = new CodedInputStream(data.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            switch (WireFormat.GetTagFieldNumber(tag))
            {
                case 1:
                    key = input.ReadString();
                    break;
                case 2:
                    var any = new CodedInputStream(input.ReadBytes().ToByteArray());
                    uint anyTag;
                    while ((anyTag = any.ReadTag()) != 0)
                    {
                        text = WireFormat.GetTagFieldNumber(anyTag) switch
                        {
                            1 => any.ReadString(),
                            2 => any.ReadBool() ? "true" : "false",
                            3 => any.ReadInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
                            4 => any.ReadDouble().ToString(System.Globalization.CultureInfo.InvariantCulture),
                            _ => Skip(any),
                        };
                    }

                    break;
                default:
                    input.SkipLastField();
                    break;
            }
        }

        return (key, text);
    }

    private static string Skip(CodedInputStream input)
    {
        input.SkipLastField();
        return "";
    }

    /// <summary>The length-delimited fields of a message (the only kind these tests read); others are skipped.</summary>
    private static List<(int Field, ByteString Value)> Fields(byte[] data)
    {
        var fields = new List<(int, ByteString)>();
        var input = new CodedInputStream(data);
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            if (WireFormat.GetTagWireType(tag) == WireFormat.WireType.LengthDelimited)
            {
                fields.Add((WireFormat.GetTagFieldNumber(tag), input.ReadBytes()));
            }
            else
            {
                input.SkipLastField();
            }
        }

        return fields;
    }
}
