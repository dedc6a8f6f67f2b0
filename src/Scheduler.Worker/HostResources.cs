using System.Globalization;

namespace Scheduler.Worker;

/// <summary>What this host can offer when the operator does not say: every core and all memory.</summary>
internal static class HostResources
{
    public static long CpuMillis(WorkerOptions options) =>
        options.CpuMillis > 0 ? options.CpuMillis : Environment.ProcessorCount * 1000L;

    public static long MemoryMib(WorkerOptions options)
    {
        if (options.MemoryMib > 0)
        {
            return options.MemoryMib;
        }

        // MemTotal in /proc/meminfo is in KiB; elsewhere fall back to what the runtime sees.
        var line = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
            : null;
        if (line is not null && long.TryParse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture, out var kib))
        {
            return kib / 1024;
        }

        return GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024);
    }

    /// <summary>Parses k=v,k=v; throws naming the bad pair.</summary>
    public static IReadOnlyDictionary<string, string> ParseLabels(string labels)
    {
        var parsed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in labels.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"--labels: '{pair}' is not key=value");
            }

            parsed[pair[..eq]] = pair[(eq + 1)..];
        }

        return parsed;
    }
}
