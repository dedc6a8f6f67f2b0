using System.Globalization;

namespace Scheduler.Simulation;

/// <summary>
/// Reads node and task lists in the Alibaba GPU trace v2023 format (CSV with a header row).
/// Columns are found by name, so files with fewer columns (multigpu20 has only the first five)
/// read as well; missing optional values become empty or null.
/// </summary>
public static class TraceReader
{
    /// <summary>Reads a node list: <c>sn,cpu_milli,memory_mib,gpu,model</c>.</summary>
    public static IReadOnlyList<TraceNode> ReadNodes(string path) => ParseNodes(File.ReadLines(path), path);

    /// <summary>Reads a task list: <c>name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec,...,creation_time,deletion_time,scheduled_time]</c>.</summary>
    public static IReadOnlyList<TraceTask> ReadTasks(string path) => ParseTasks(File.ReadLines(path), path);

    /// <summary>Parses node list lines (header first); <paramref name="source"/> names them in errors.</summary>
    public static IReadOnlyList<TraceNode> ParseNodes(IEnumerable<string> lines, string source)
    {
        var nodes = new List<TraceNode>();
        Read(lines, source, ["sn", "cpu_milli", "memory_mib", "gpu", "model"], row =>
        {
            var gpus = (int)row.Long(3);
            var model = row.Text(4);
            if (gpus > 0 && model.Length == 0)
            {
                throw row.Error(4, "a node with GPUs needs a model");
            }

            nodes.Add(new TraceNode(row.Text(0), row.Long(1), row.Long(2), gpus, model));
        });
        return nodes;
    }

    /// <summary>Parses task list lines (header first); <paramref name="source"/> names them in errors.</summary>
    public static IReadOnlyList<TraceTask> ParseTasks(IEnumerable<string> lines, string source)
    {
        var tasks = new List<TraceTask>();
        var models = new Dictionary<string, string[]>(StringComparer.Ordinal);
        Read(
            lines,
            source,
            ["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec?", "creation_time?", "deletion_time?", "scheduled_time?"],
            row =>
            {
                var gpuCount = (int)row.Long(3);
                var gpuMilli = (int)row.Long(4);
                if (gpuCount < 0 || gpuMilli < 0 || gpuMilli > 1000 || (gpuCount > 1 && gpuMilli != 1000) || (gpuCount > 0 && gpuMilli == 0))
                {
                    throw row.Error(4, $"num_gpu {gpuCount} with gpu_milli {gpuMilli} is not a valid GPU request");
                }

                var spec = row.Text(5);
                if (!models.TryGetValue(spec, out var allowed))
                {
                    // Repeated model lists (e.g. "V100M16|V100M32|V100M32" in gpuspec10) collapse to a set.
                    allowed = spec.Length == 0
                        ? []
                        : spec.Split('|', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                            .Distinct(StringComparer.OrdinalIgnoreCase).ToArray();
                    models.Add(spec, allowed);
                }

                tasks.Add(new TraceTask(
                    row.Text(0),
                    row.Long(1),
                    row.Long(2),
                    gpuCount,
                    gpuCount == 0 ? 0 : gpuMilli,
                    allowed,
                    row.OptionalLong(6),
                    row.OptionalLong(7),
                    row.OptionalLong(8)));
            });
        return tasks;
    }

    private static void Read(IEnumerable<string> lines, string source, string[] columns, Action<Row> onRow)
    {
        using var e = lines.GetEnumerator();
        if (!e.MoveNext())
        {
            throw new TraceFormatException($"{source}: empty file, expected a header row");
        }

        var header = e.Current.Split(',');
        var index = new int[columns.Length];
        for (var c = 0; c < columns.Length; c++)
        {
            var optional = columns[c].EndsWith('?');
            var name = optional ? columns[c][..^1] : columns[c];
            index[c] = Array.FindIndex(header, h => string.Equals(h.Trim(), name, StringComparison.OrdinalIgnoreCase));
            if (index[c] < 0 && !optional)
            {
                throw new TraceFormatException($"{source}: header has no column '{name}'");
            }
        }

        var line = 1;
        while (e.MoveNext())
        {
            line++;
            if (string.IsNullOrWhiteSpace(e.Current))
            {
                continue;
            }

            onRow(new Row(source, line, e.Current.Split(','), index, columns));
        }
    }

    private readonly struct Row(string source, int line, string[] cells, int[] index, string[] columns)
    {
        public string Text(int column)
        {
            var i = index[column];
            if (i < 0 || i >= cells.Length)
            {
                return string.Empty;
            }

            var v = cells[i].Trim();
            return v.Equals("nan", StringComparison.OrdinalIgnoreCase) ? string.Empty : v;
        }

        public long Long(int column)
        {
            var text = Text(column);
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) || v < 0)
            {
                throw Error(column, $"'{text}' is not a non-negative integer");
            }

            return v;
        }

        public long? OptionalLong(int column)
        {
            var text = Text(column);
            if (text.Length == 0)
            {
                return null;
            }

            return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v)
                ? v
                : throw Error(column, $"'{text}' is not an integer");
        }

        public TraceFormatException Error(int column, string what) =>
            new($"{source}:{line}: column '{columns[column].TrimEnd('?')}': {what}");
    }
}
