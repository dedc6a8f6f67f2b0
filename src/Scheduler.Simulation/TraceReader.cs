using System.Globalization;

namespace Scheduler.Simulation;

/// <summary>
/// Reads the Alibaba GPU trace v2023 CSV format (clusterdata/cluster-trace-gpu-v2023): node lists
/// `sn,cpu_milli,memory_mib,gpu,model` and pod lists `name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,...,creation_time,deletion_time,...]`.
/// Columns are found by header name, so lists with only the first five columns read too.
/// </summary>
public static class TraceReader
{
    public static IReadOnlyList<TraceNode> ReadNodes(string path)
    {
        var (header, rows) = Read(path);
        int name = Column(header, path, "sn"), cpu = Column(header, path, "cpu_milli"), memory = Column(header, path, "memory_mib"),
            gpu = Column(header, path, "gpu"), model = Column(header, path, "model");
        return rows.Select((r, line) => new TraceNode(
            r[name],
            Long(r[cpu], path, line, "cpu_milli"),
            Long(r[memory], path, line, "memory_mib"),
            (int)Long(r[gpu], path, line, "gpu"),
            r[model])).ToArray();
    }

    public static IReadOnlyList<TraceTask> ReadTasks(string path)
    {
        var (header, rows) = Read(path);
        int name = Column(header, path, "name"), cpu = Column(header, path, "cpu_milli"), memory = Column(header, path, "memory_mib"),
            numGpu = Column(header, path, "num_gpu"), gpuMilli = Column(header, path, "gpu_milli");
        int spec = Array.IndexOf(header, "gpu_spec"), created = Array.IndexOf(header, "creation_time"), deleted = Array.IndexOf(header, "deletion_time");
        return rows.Select((r, line) => new TraceTask(
            r[name],
            Long(r[cpu], path, line, "cpu_milli"),
            Long(r[memory], path, line, "memory_mib"),
            (int)Long(r[numGpu], path, line, "num_gpu"),
            (int)Long(r[gpuMilli], path, line, "gpu_milli"),
            spec >= 0 && r[spec].Length > 0 ? r[spec].Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [],
            created >= 0 && r[created].Length > 0 ? Long(r[created], path, line, "creation_time") : null,
            deleted >= 0 && r[deleted].Length > 0 ? Long(r[deleted], path, line, "deletion_time") : null)).ToArray();
    }

    private static (string[] Header, List<string[]> Rows) Read(string path)
    {
        using var reader = new StreamReader(path);
        var header = (reader.ReadLine() ?? throw new FormatException($"{path}: empty file")).Split(',');
        var rows = new List<string[]>();
        while (reader.ReadLine() is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            var cells = line.Split(',');
            if (cells.Length < header.Length)
            {
                throw new FormatException($"{path}:{rows.Count + 2}: {cells.Length} columns, the header has {header.Length}");
            }

            rows.Add(cells);
        }

        return (header, rows);
    }

    private static int Column(string[] header, string path, string name)
    {
        var index = Array.IndexOf(header, name);
        return index >= 0 ? index : throw new FormatException($"{path}: no '{name}' column (header: {string.Join(',', header)})");
    }

    private static long Long(string text, string path, int row, string column) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 0
            ? value
            : throw new FormatException($"{path}:{row + 2}: {column} '{text}' is not a non-negative integer");
}
