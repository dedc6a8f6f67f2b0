using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace Scheduler.Tests.Common.Fuzz;

/// <summary>
/// Writes hostile protobuf payloads for a message type straight from its descriptor, on the wire
/// rather than through the generated classes, so nothing the classes would refuse to hold is out of
/// reach: enum numbers no enum names, non-canonical booleans, negative and extreme integers, huge,
/// NUL-laden or path-escaping strings, unknown fields, wrong wire types, random or truncated bytes.
/// Every payload comes from the <see cref="Random"/> it is given, so a seed reproduces it.
/// </summary>
public sealed class WireFuzzer
{
    private const int MaxDepth = 4;

    private readonly IReadOnlyList<string> _knownIds;

    /// <param name="knownIds">Ids that exist on the master (jobs, nodes): some strings are these, so calls get past "not found".</param>
    public WireFuzzer(IReadOnlyList<string> knownIds)
    {
        _knownIds = knownIds;
    }

    /// <summary>The kind of payload a request carries, chosen per request.</summary>
    public enum Shape
    {
        Structured,
        Mutated,
        RandomBytes,
        Truncated,
        Oversized,
    }

    /// <summary>One request's payload for <paramref name="type"/>, and its shape.</summary>
    /// <param name="seed">A valid request of this type to mutate, or null.</param>
    public (byte[] Payload, Shape Shape) Next(MessageDescriptor type, byte[]? seed, Random random, int maxRequestBytes)
    {
        var roll = random.Next(1000);
        if (roll < 80)
        {
            return (RandomBytes(random, random.Next(0, 512)), Shape.RandomBytes);
        }

        if (roll < 130)
        {
            var whole = Message(type, random, 0);
            return (whole.Length == 0 ? [0x0A] : whole[..random.Next(whole.Length)], Shape.Truncated);
        }

        if (roll < 132)
        {
            // Past the master's receive limit: refused before any handler runs.
            return (Oversized(type, random, maxRequestBytes), Shape.Oversized);
        }

        if (seed is not null && roll < 600)
        {
            // A valid request with one hostile field appended: protobuf merges it in, so the rest stays valid
            // and the call gets past the first check to the deeper ones.
            return ([.. seed, .. OneField(type, random, 0)], Shape.Mutated);
        }

        return (Message(type, random, 0), Shape.Structured);
    }

    /// <summary>One hostile field of <paramref name="type"/>, or of a message nested in it, encoded to merge into a message.</summary>
    public byte[] OneField(MessageDescriptor type, Random random, int depth)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer, leaveOpen: true);
        var fields = type.Fields.InDeclarationOrder();
        if (fields.Count > 0)
        {
            var field = fields[random.Next(fields.Count)];
            if (field.FieldType == FieldType.Message && depth < MaxDepth && random.Next(3) > 0)
            {
                output.WriteTag(field.FieldNumber, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(ByteString.CopyFrom(OneField(field.MessageType, random, depth + 1)));
            }
            else
            {
                WriteField(output, field, random, depth);
            }
        }

        output.Flush();
        return buffer.ToArray();
    }

    /// <summary>Encodes <paramref name="message"/> as field <paramref name="number"/> of an enclosing message.</summary>
    public static byte[] Field(int number, byte[] message)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer, leaveOpen: true);
        output.WriteTag(number, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(message));
        output.Flush();
        return buffer.ToArray();
    }

    /// <summary>A structurally valid (or nearly valid) encoding of <paramref name="type"/> with hostile values.</summary>
    public byte[] Message(MessageDescriptor type, Random random, int depth)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer, leaveOpen: true);
        foreach (var field in type.Fields.InDeclarationOrder())
        {
            // Most fields are set; some twice (a later value wins for scalars, appends for repeated).
            var times = random.Next(10) switch
            {
                < 3 => 0,
                < 9 => 1,
                _ => field.IsRepeated ? random.Next(2, random.Next(10) == 0 ? 300 : 6) : 2,
            };
            for (var i = 0; i < times; i++)
            {
                WriteField(output, field, random, depth);
            }
        }

        if (random.Next(20) == 0)
        {
            WriteUnknownField(output, random);
        }

        output.Flush();
        return buffer.ToArray();
    }

    private void WriteField(CodedOutputStream output, FieldDescriptor field, Random random, int depth)
    {
        if (random.Next(100) == 0)
        {
            // The right number with the wrong wire type.
            output.WriteTag(field.FieldNumber, field.FieldType is FieldType.String or FieldType.Bytes or FieldType.Message ? WireFormat.WireType.Varint : WireFormat.WireType.LengthDelimited);
            if (field.FieldType is FieldType.String or FieldType.Bytes or FieldType.Message)
            {
                output.WriteInt64(random.NextInt64());
            }
            else
            {
                output.WriteBytes(ByteString.CopyFrom(RandomBytes(random, random.Next(16))));
            }

            return;
        }

        switch (field.FieldType)
        {
            case FieldType.String:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(ByteString.CopyFrom(Text(random)));
                break;
            case FieldType.Bytes:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(ByteString.CopyFrom(RandomBytes(random, random.Next(10) == 0 ? random.Next(64 * 1024) : random.Next(64))));
                break;
            case FieldType.Message:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.LengthDelimited);
                output.WriteBytes(ByteString.CopyFrom(depth >= MaxDepth ? [] : Message(field.MessageType, random, depth + 1)));
                break;
            case FieldType.Enum:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.Varint);
                output.WriteInt32(random.Next(3) switch
                {
                    0 => field.EnumType.Values[random.Next(field.EnumType.Values.Count)].Number,
                    1 => Pick(random, -1, 99, 1000, int.MaxValue, int.MinValue),
                    _ => random.Next(-5, 20),
                });
                break;
            case FieldType.Bool:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.Varint);
                output.WriteUInt64(random.Next(4) == 0 ? (ulong)random.NextInt64() : (ulong)random.Next(2));
                break;
            case FieldType.Double:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.Fixed64);
                output.WriteDouble(Pick(random, double.NaN, double.PositiveInfinity, double.NegativeInfinity, -1.0, 0.0, 1e308, random.NextDouble()));
                break;
            case FieldType.Float:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.Fixed32);
                output.WriteFloat(Pick(random, float.NaN, float.PositiveInfinity, -1f, 0f, (float)random.NextDouble()));
                break;
            case FieldType.Fixed32 or FieldType.SFixed32:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.Fixed32);
                output.WriteFixed32((uint)random.Next());
                break;
            case FieldType.Fixed64 or FieldType.SFixed64:
                output.WriteTag(field.FieldNumber, WireFormat.WireType.Fixed64);
                output.WriteFixed64((ulong)random.NextInt64());
                break;
            default:
                // Every varint integer: int32/64, uint32/64, sint32/64.
                output.WriteTag(field.FieldNumber, WireFormat.WireType.Varint);
                output.WriteUInt64(unchecked((ulong)Integer(random)));
                break;
        }
    }

    private static void WriteUnknownField(CodedOutputStream output, Random random)
    {
        var number = random.Next(1, 10_000);
        if (random.Next(2) == 0)
        {
            output.WriteTag(number, WireFormat.WireType.Varint);
            output.WriteUInt64((ulong)random.NextInt64());
        }
        else
        {
            output.WriteTag(number, WireFormat.WireType.LengthDelimited);
            output.WriteBytes(ByteString.CopyFrom(RandomBytes(random, random.Next(128))));
        }
    }

    private byte[] Text(Random random)
    {
        var text = random.Next(16) switch
        {
            0 => "",
            1 => "   ",
            2 => new string('x', random.Next(30) == 0 ? random.Next(50_000, 300_000) : random.Next(250, 5000)),
            3 => "a\0b",
            4 => "../../../../etc/passwd",
            5 => "/" + string.Concat(Enumerable.Repeat("../", random.Next(1, 50))),
            6 => "💥\u202e\uFFFF\u0001\u007f" + random.Next(),
            7 => new string('é', random.Next(1, 600)),
            8 => "-1",
            9 => "9223372036854775808",
            10 => "A=B",
            11 => string.Concat(Enumerable.Range(0, random.Next(1, 40)).Select(_ => (char)random.Next(1, 0x2FF))),
            _ => _knownIds.Count > 0 && random.Next(2) == 0 ? _knownIds[random.Next(_knownIds.Count)] : $"id-{random.Next(1000)}",
        };
        var bytes = System.Text.Encoding.UTF8.GetBytes(text);
        if (random.Next(40) == 0 && bytes.Length > 0)
        {
            // Not UTF-8 at all.
            bytes[random.Next(bytes.Length)] = (byte)random.Next(0x80, 0x100);
        }

        return bytes;
    }

    private static long Integer(Random random) => random.Next(12) switch
    {
        0 => 0,
        1 => -1,
        2 => int.MaxValue,
        3 => int.MinValue,
        4 => long.MaxValue,
        5 => long.MinValue,
        6 => random.Next(-10, 10),
        7 => random.NextInt64(),
        8 => -random.NextInt64(),
        _ => random.Next(0, 5000),
    };

    private static byte[] Oversized(MessageDescriptor type, Random random, int maxRequestBytes)
    {
        // Field 1 as bytes, whatever it is: the size check comes before parsing.
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer, leaveOpen: true);
        output.WriteTag(type.Fields.InDeclarationOrder().FirstOrDefault()?.FieldNumber ?? 1, WireFormat.WireType.LengthDelimited);
        output.WriteBytes(ByteString.CopyFrom(RandomBytes(random, maxRequestBytes + random.Next(1, 4096))));
        output.Flush();
        return buffer.ToArray();
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static T Pick<T>(Random random, params T[] values) => values[random.Next(values.Length)];
}
