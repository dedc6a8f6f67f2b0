using Google.Protobuf;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Tests;

/// <summary>Checkpoint trees in transfer tests: the chunk contents a manifest names, and tree equality.</summary>
internal static class TransferTrees
{
    /// <summary>Every distinct chunk of <paramref name="manifest"/>, by hex hash, read from <paramref name="root"/>.</summary>
    public static Dictionary<string, ByteString> Contents(string root, CheckpointManifest manifest)
    {
        var chunk = (int)manifest.ChunkSize;
        var chunks = new Dictionary<string, ByteString>();
        foreach (var entry in manifest.Entries.Where(e => e.Type == EntryType.File))
        {
            var content = File.ReadAllBytes(Path.Combine(root, entry.Path));
            for (var i = 0; i < entry.Chunks.Count; i++)
            {
                chunks[ChunkHash.Hex(entry.Chunks[i])] = ByteString.CopyFrom(content.AsSpan(i * chunk, Math.Min(chunk, content.Length - (i * chunk))));
            }
        }

        return chunks;
    }

    /// <summary>Same entries (files and directories) and byte-identical files.</summary>
    public static void AssertSame(string expected, string actual)
    {
        static List<string> Entries(string root) =>
            [.. Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(root, p)).Order(StringComparer.Ordinal)];

        Assert.That(Entries(actual), Is.EqualTo(Entries(expected)));
        foreach (var file in Directory.EnumerateFiles(expected, "*", SearchOption.AllDirectories))
        {
            Assert.That(File.ReadAllBytes(Path.Combine(actual, Path.GetRelativePath(expected, file))), Is.EqualTo(File.ReadAllBytes(file)), file);
        }
    }
}
