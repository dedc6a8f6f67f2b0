using System.Globalization;

namespace Scheduler.Worker.Gpu;

/// <summary>
/// The topology a simulated probe reports, from `--sim-gpu-topology`: levels separated by ';', each
/// LEVEL:GROUP,GROUP,... with LEVEL one of nvlink, pcie-switch, numa (the words of a job's `topology`) and a
/// GROUP GPU indices or ranges joined by '+'. "nvlink:0-3,4-7;numa:0-3,4-7" is two NVLink islands of four,
/// one per NUMA node; "nvlink:0+1,2+3" is two bridged pairs. A GPU no group of a level names has none at
/// that level. GPUs of one simulated island are all linked to each other, as through an NVSwitch.
/// </summary>
internal static class SimulatedTopology
{
    public const string Option = "--sim-gpu-topology";
    public const string Example = "nvlink:0-3,4-7;numa:0-3,4-7";

    private static readonly string[] LevelNames = ["nvlink", "pcie-switch", "numa"];

    /// <summary>The topology of <paramref name="gpus"/> GPUs; "" gives none. Throws <see cref="FormatException"/> with a one-line message.</summary>
    public static GpuPlacementInfo[] Parse(string text, int gpus)
    {
        var groups = new int[LevelNames.Length, gpus];
        var seen = new bool[LevelNames.Length];
        foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                throw Error($"'{part}' is not LEVEL:GROUPS (e.g. {Example})");
            }

            var name = part[..colon].Trim();
            var level = Array.IndexOf(LevelNames, name);
            if (level < 0)
            {
                throw Error($"unknown level '{name}' (nvlink, pcie-switch or numa)");
            }

            if (seen[level])
            {
                throw Error($"level '{name}' is given twice");
            }

            seen[level] = true;
            var id = 0;
            foreach (var group in part[(colon + 1)..].Split(',', StringSplitOptions.TrimEntries))
            {
                id++;
                foreach (var gpu in Members(group, name, gpus))
                {
                    if (groups[level, gpu] != 0)
                    {
                        throw Error($"GPU {gpu} is in two {name} groups");
                    }

                    groups[level, gpu] = id;
                }
            }
        }

        var result = new GpuPlacementInfo[gpus];
        for (var g = 0; g < gpus; g++)
        {
            var island = groups[0, g];
            var peers = island == 0 ? [] : Enumerable.Range(0, gpus).Where(p => p != g && groups[0, p] == island).ToArray();
            result[g] = new GpuPlacementInfo(island, groups[1, g], groups[2, g], peers);
        }

        return result;
    }

    private static List<int> Members(string group, string level, int gpus)
    {
        if (group.Length == 0)
        {
            throw Error($"an empty group in {level} (groups are separated by ',', e.g. {Example})");
        }

        var members = new List<int>();
        foreach (var item in group.Split('+', StringSplitOptions.TrimEntries))
        {
            var dash = item.IndexOf('-', StringComparison.Ordinal);
            var (from, to) = dash < 0 ? (Index(item, item), Index(item, item)) : (Index(item[..dash], item), Index(item[(dash + 1)..], item));
            if (to < from)
            {
                throw Error($"range '{item}' in {level} is reversed");
            }

            if (to >= gpus)
            {
                throw Error($"GPU {to} in {level} is out of range: this worker has {gpus} GPU{(gpus == 1 ? "" : "s")}{(gpus > 0 ? $" (0-{gpus - 1})" : "")}");
            }

            for (var gpu = from; gpu <= to; gpu++)
            {
                if (members.Contains(gpu))
                {
                    throw Error($"GPU {gpu} is named twice in the {level} group '{group}'");
                }

                members.Add(gpu);
            }
        }

        return members;

        int Index(string text, string item) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value)
                ? value
                : throw Error($"'{item}' in {level} is not a GPU index or a range A-B");
    }

    private static FormatException Error(string problem) => new($"{Option}: {problem}");
}
