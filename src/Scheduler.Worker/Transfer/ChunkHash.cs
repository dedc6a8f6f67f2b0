using System.Security.Cryptography;
using Google.Protobuf;

namespace Scheduler.Worker.Transfer;

/// <summary>Chunks are named by their SHA-256, written as 64 lowercase hex digits (also their file name in the store).</summary>
internal static class ChunkHash
{
    public const int Bytes = SHA256.HashSizeInBytes;

    public static string Hex(ReadOnlySpan<byte> hash) => Convert.ToHexStringLower(hash);

    public static string Hex(ByteString hash) => Convert.ToHexStringLower(hash.Span);

    public static ByteString FromHex(string hex) => UnsafeByteOperations.UnsafeWrap(Convert.FromHexString(hex));

    public static bool Matches(ReadOnlySpan<byte> data, ReadOnlySpan<byte> hash)
    {
        Span<byte> actual = stackalloc byte[Bytes];
        SHA256.HashData(data, actual);
        return hash.Length == Bytes && actual.SequenceEqual(hash);
    }

    public static bool IsHexName(string name) =>
        name.Length == 2 * Bytes && name.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));
}
