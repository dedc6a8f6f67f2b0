using System.Collections.Immutable;
using System.Net.Http.Json;
using System.Threading.Channels;
using Scheduler.Core.Scaling;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// POSTs each changed autoscaling signal as JSON to the operator's URL, off the scheduling loop: only
/// the newest signal waits to be sent (an older one not yet sent is dropped), each POST is bounded in
/// time, and a failure is logged, never retried into a storm.
/// </summary>
internal sealed partial class ScalingWebhook : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private readonly Uri _url;
    private readonly ILogger _logger;
    private readonly HttpClient _http = new() { Timeout = Timeout };
    private readonly Channel<Payload> _queue = Channel.CreateBounded<Payload>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
    private readonly Task _sending;
    private readonly CancellationTokenSource _stopping = new();

    public ScalingWebhook(Uri url, ILogger logger)
    {
        _url = url;
        _logger = logger;
        _sending = Task.Run(SendLoopAsync);
    }

    public void Send(DateTimeOffset at, ImmutableArray<ScalingAdvice> advice) =>
        _queue.Writer.TryWrite(new Payload(at, [.. advice.Select(a => new Entry(a.Model, a.Delta, a.Reason))]));

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();

        // A POST in flight does not hold up the end of the term.
        await _stopping.CancelAsync();
        await _sending.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _http.Dispose();
        _stopping.Dispose();
    }

    private async Task SendLoopAsync()
    {
        await foreach (var payload in _queue.Reader.ReadAllAsync())
        {
            try
            {
                using var response = await _http.PostAsJsonAsync(_url, payload, _stopping.Token);
                if (!response.IsSuccessStatusCode)
                {
                    LogFailed(_url.ToString(), $"HTTP {(int)response.StatusCode}");
                }
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
            {
                LogFailed(_url.ToString(), ex.Message);
            }
        }
    }

    /// <summary>What the webhook receives: {"at": ..., "advice": [{"gpuModel", "hostsDelta", "reason"}]}.</summary>
    internal sealed record Payload(DateTimeOffset At, IReadOnlyList<Entry> Advice);

    internal sealed record Entry(string GpuModel, int HostsDelta, string Reason);

    [LoggerMessage(1, LogLevel.Warning, "Autoscaling webhook {Url} failed: {Error}")]
    private partial void LogFailed(string url, string error);
}
