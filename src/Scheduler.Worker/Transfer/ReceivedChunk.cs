using System.Buffers;
using System.Text;
using Grpc.Core;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// A <c>ChunkMessage</c> as the target reads it: the same protobuf encoding, but the data is copied once,
/// straight from the request body's buffers into a pooled page-aligned <see cref="ChunkBuffer"/>, where the
/// generated parser would allocate a fresh array per chunk (and the store would then copy it again).
/// Dispose returns the buffer.
/// </summary>
internal sealed class ReceivedChunk : IDisposable
{
    private const int MaxStringBytes = 1024;

    private ReceivedChunk(string migrationId, string token, byte[] hash, ChunkBuffer? data)
    {
        MigrationId = migrationId;
        Token = token;
        Hash = hash;
        Data = data;
    }

    public string MigrationId { get; }

    public string Token { get; }

    public byte[] Hash { get; }

    public ChunkBuffer? Data { get; }

    public ReadOnlySpan<byte> Bytes => Data is null ? [] : Data.Span;

    public int Length => Data?.Length ?? 0;

    public void Dispose() => Data?.Dispose();

    /// <summary>Reads the message (fields 1..4 of <c>ChunkMessage</c>; unknown fields skipped, the last of a repeated field wins).</summary>
    public static ReceivedChunk Parse(DeserializationContext context, ChunkBufferPool pool)
    {
        var reader = new SequenceReader<byte>(context.PayloadAsReadOnlySequence());
        string migrationId = "", token = "";
        byte[] hash = [];
        ChunkBuffer? data = null;
        try
        {
            while (!reader.End)
            {
                var tag = ReadVarint(ref reader);
                var field = tag >> 3;
                switch (tag & 7)
                {
                    case 0:
                        ReadVarint(ref reader);
                        break;
                    case 1:
                        Skip(ref reader, 8);
                        break;
                    case 5:
                        Skip(ref reader, 4);
                        break;
                    case 2:
                        var length = ReadVarint(ref reader);
                        if (length > (ulong)reader.Remaining)
                        {
                            throw Invalid("message: a field is longer than the message");
                        }

                        var value = reader.UnreadSequence.Slice(0, (long)length);
                        reader.Advance((long)length);
                        switch (field)
                        {
                            case 1:
                                migrationId = Text(value, "migration_id");
                                break;
                            case 2:
                                token = Text(value, "token");
                                break;
                            case 3:
                                hash = value.Length <= MaxStringBytes ? value.ToArray() : throw Invalid($"hash: {value.Length} bytes");
                                break;
                            case 4:
                                if (value.Length > TransferLimits.MaxChunkBytes)
                                {
                                    throw new RpcException(new Status(StatusCode.ResourceExhausted, $"data: {value.Length} bytes, over the largest chunk of {TransferLimits.MaxChunkBytes}"));
                                }

                                data?.Dispose();
                                data = pool.Rent((int)value.Length);
                                var target = data.Span;
                                foreach (var segment in value)
                                {
                                    segment.Span.CopyTo(target);
                                    target = target[segment.Length..];
                                }
                                break;
                        }

                        break;
                    default:
                        throw Invalid($"message: unsupported wire type {tag & 7}");
                }
            }
        }
        catch
        {
            data?.Dispose();
            throw;
        }

        return new ReceivedChunk(migrationId, token, hash, data);
    }

    private static string Text(ReadOnlySequence<byte> value, string field) =>
        value.Length <= MaxStringBytes ? Encoding.UTF8.GetString(value) : throw Invalid($"{field}: longer than {MaxStringBytes} bytes");

    private static ulong ReadVarint(ref SequenceReader<byte> reader)
    {
        ulong result = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            if (!reader.TryRead(out var b))
            {
                throw Invalid("message: truncated");
            }

            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }
        }

        throw Invalid("message: malformed varint");
    }

    private static void Skip(ref SequenceReader<byte> reader, int count)
    {
        if (reader.Remaining < count)
        {
            throw Invalid("message: truncated");
        }

        reader.Advance(count);
    }

    private static RpcException Invalid(string detail) => new(new Status(StatusCode.InvalidArgument, detail));
}
