using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Samples;

// Usage: BigStateAgent [size-mib (256)] [change-percent (10)] [interval-ms (1000)]
// Holds size-mib of state in 4 MiB chunks and rewrites change-percent of the chunks every
// interval-ms. A checkpoint writes one file per chunk (chunks/chunk-NNNNN) and rewrites only the
// chunks changed since the last one, so a transfer hashing files or chunks finds the delta; a
// manifest holds each chunk's SHA-256, checked on restore.
const int ChunkBytes = 4 << 20;
var sizeMib = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 256;
var changePercent = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 10;
var intervalMs = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 1000;

var count = Math.Max(1, (int)((sizeMib * (1L << 20) + ChunkBytes - 1) / ChunkBytes));
var chunks = new byte[count][];
var hashes = new string[count];
var dirty = new bool[count];
var random = new Random(42);
var gate = new Lock();
long round = 0;
var frozen = false;

if (AgentCheckpoint.RestoreDir is { } restore)
{
    round = Restore(restore);
    Console.WriteLine($"restored {count} chunks at round {round} from {restore}");
}
else
{
    for (var i = 0; i < count; i++)
    {
        chunks[i] = new byte[ChunkBytes];
        random.NextBytes(chunks[i]);
    }
}

// This attempt's checkpoint folder starts empty: the first checkpoint writes every chunk.
Array.Fill(dirty, true);

using var checkpoints = AgentCheckpoint.Listen(request =>
{
    lock (gate)
    {
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var folder = Path.Combine(request.Directory, "chunks");
        Directory.CreateDirectory(folder);
        var written = 0;
        for (var i = 0; i < count; i++)
        {
            if (!dirty[i])
            {
                continue;
            }

            hashes[i] = Convert.ToHexStringLower(SHA256.HashData(chunks[i]));
            AgentCheckpoint.WriteAtomically(Path.Combine(folder, ChunkName(i)), chunks[i]);
            dirty[i] = false;
            written++;
        }

        var manifest = new StringBuilder();
        manifest.Append(CultureInfo.InvariantCulture, $"round {round}\nchunk-bytes {ChunkBytes}\nchunks {count}\n");
        for (var i = 0; i < count; i++)
        {
            manifest.Append(CultureInfo.InvariantCulture, $"{ChunkName(i)} {hashes[i]}\n");
        }

        AgentCheckpoint.WriteAtomically(Path.Combine(request.Directory, "manifest"), Encoding.ASCII.GetBytes(manifest.ToString()));
        frozen |= request.Final;
        var ms = System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        Console.WriteLine($"checkpoint {request.Sequence}{(request.Final ? " (final)" : "")}: round {round}, wrote {written} of {count} chunks ({written * (ChunkBytes >> 20)} MiB) in {ms:F0} ms");
    }
});

var perRound = (int)Math.Round(count * changePercent / 100);
while (true)
{
    Thread.Sleep(intervalMs);
    lock (gate)
    {
        if (frozen)
        {
            continue;
        }

        for (var n = 0; n < perRound; n++)
        {
            var i = random.Next(count);
            random.NextBytes(chunks[i]);
            dirty[i] = true;
        }

        round++;
    }
}

long Restore(string directory)
{
    AgentCheckpoint.EnsureComplete(directory);
    var lines = File.ReadAllLines(Path.Combine(directory, "manifest"));
    var header = lines.Take(3).Select(l => l.Split(' ')).ToDictionary(f => f[0], f => long.Parse(f[1], CultureInfo.InvariantCulture));
    if (header["chunk-bytes"] != ChunkBytes || header["chunks"] != count)
    {
        throw new InvalidDataException($"checkpoint has {header["chunks"]} chunks of {header["chunk-bytes"]} bytes; this agent was started with {count} of {ChunkBytes}");
    }

    foreach (var (line, i) in lines.Skip(3).Select((l, i) => (l, i)))
    {
        var expected = line.Split(' ')[1];
        chunks[i] = File.ReadAllBytes(Path.Combine(directory, "chunks", ChunkName(i)));
        hashes[i] = Convert.ToHexStringLower(SHA256.HashData(chunks[i]));
        if (hashes[i] != expected || chunks[i].Length != ChunkBytes)
        {
            throw new InvalidDataException($"{ChunkName(i)} does not match its checksum in the manifest");
        }
    }

    return header["round"];
}

static string ChunkName(int index) => $"chunk-{index.ToString("D5", CultureInfo.InvariantCulture)}";
