using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Where a migration's staging tree says it holds which chunk: one record per verified chunk written
/// (file, chunk index, length, SHA-256), appended after the write, so a store created again over the
/// same folder (the worker restarted mid-migration) knows what to look for. Records are hints, not
/// proof: nothing here is fsync'ed, and a crash can leave a record whose bytes never reached the disk,
/// so <see cref="MigrationStore"/> re-hashes every recorded chunk before it counts it as held.
/// Rewritten compactly (temporary file, then rename) whenever the store is reshaped.
/// </summary>
internal sealed class MigrationJournal : IDisposable
{
    private static ReadOnlySpan<byte> Magic => "SCJ1"u8;

    private const int HeaderBytes = 8;
    private const int MaxPathBytes = 4096;

    private readonly SafeFileHandle _handle;
    private long _end;

    private MigrationJournal(SafeFileHandle handle, long end)
    {
        _handle = handle;
        _end = end;
    }

    /// <summary>Replaces the journal at <paramref name="path"/> with exactly these records and opens it for appending.</summary>
    public static MigrationJournal Create(string path, int chunkSize, IEnumerable<Entry> entries)
    {
        var temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024))
        {
            Span<byte> header = stackalloc byte[HeaderBytes];
            Magic.CopyTo(header);
            BinaryPrimitives.WriteInt32LittleEndian(header[4..], chunkSize);
            stream.Write(header);
            foreach (var entry in entries)
            {
                stream.Write(Encode(entry));
            }
        }

        File.Move(temporary, path, overwrite: true);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Write, FileShare.Read);
        return new MigrationJournal(handle, RandomAccess.GetLength(handle));
    }

    /// <summary>The chunk size and the last record per position; null when there is no journal or its header is not one.</summary>
    public static (int ChunkSize, Dictionary<(string Path, int Index), Entry> Entries)? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }

        var bytes = File.ReadAllBytes(path);
        if (bytes.Length < HeaderBytes || !bytes.AsSpan(0, 4).SequenceEqual(Magic))
        {
            return null;
        }

        var chunkSize = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
        var entries = new Dictionary<(string, int), Entry>();
        var rest = bytes.AsSpan(HeaderBytes);

        // A torn last record (the process died while appending) ends the journal.
        while (TryDecode(ref rest, out var entry))
        {
            entries[(entry.Path, entry.Index)] = entry;
        }

        return (chunkSize, entries);
    }

    /// <summary>Appends records; safe from several threads (each record lands whole at its own offset).</summary>
    public void Append(IEnumerable<Entry> entries)
    {
        foreach (var entry in entries)
        {
            var record = Encode(entry);
            RandomAccess.Write(_handle, record, Interlocked.Add(ref _end, record.Length) - record.Length);
        }
    }

    public void Dispose() => _handle.Dispose();

    private static byte[] Encode(Entry entry)
    {
        var path = Encoding.UTF8.GetBytes(entry.Path);
        var record = new byte[2 + path.Length + 8 + ChunkHash.Bytes];
        BinaryPrimitives.WriteUInt16LittleEndian(record, (ushort)path.Length);
        path.CopyTo(record, 2);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(2 + path.Length), entry.Index);
        BinaryPrimitives.WriteInt32LittleEndian(record.AsSpan(6 + path.Length), entry.Length);
        Convert.FromHexString(entry.Hex).CopyTo(record, 10 + path.Length);
        return record;
    }

    private static bool TryDecode(ref Span<byte> rest, out Entry entry)
    {
        entry = default;
        if (rest.Length < 2)
        {
            return false;
        }

        var pathBytes = BinaryPrimitives.ReadUInt16LittleEndian(rest);
        var size = 2 + pathBytes + 8 + ChunkHash.Bytes;
        if (pathBytes is 0 or > MaxPathBytes || rest.Length < size)
        {
            return false;
        }

        var path = Encoding.UTF8.GetString(rest.Slice(2, pathBytes));
        var index = BinaryPrimitives.ReadInt32LittleEndian(rest[(2 + pathBytes)..]);
        var length = BinaryPrimitives.ReadInt32LittleEndian(rest[(6 + pathBytes)..]);
        var hex = ChunkHash.Hex(rest.Slice(10 + pathBytes, ChunkHash.Bytes));
        rest = rest[size..];
        entry = new Entry(path, index, length, hex);
        return true;
    }

    /// <summary>The chunk <paramref name="Hex"/> of <paramref name="Length"/> bytes was written at chunk <paramref name="Index"/> of the staged file <paramref name="Path"/>.</summary>
    public readonly record struct Entry(string Path, int Index, int Length, string Hex);
}
