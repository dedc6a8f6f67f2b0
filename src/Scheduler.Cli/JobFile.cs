using System.Globalization;
using Scheduler.Contracts.V1;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Scheduler.Cli;

/// <summary>
/// The YAML job file (`schedctl submit -f job.yaml`); field names are camelCase, unknown fields are errors.
/// Read node by node rather than deserialised into a class, so that every error names the file, the line
/// of the value at fault and what was expected in the file's own terms (a list, a whole number), never a
/// .NET type.
/// </summary>
internal static class JobFile
{
    private static readonly string[] Fields =
    [
        "name", "command", "args", "env", "workingDir", "resources", "priority", "gpuModels", "nodeSelector",
        "maxRetries", "tenant", "runtimeEstimateSeconds", "affinityKeys", "replicas", "checkpointable", "checkpointIntervalSeconds", "topology",
    ];

    private static readonly string[] ResourceFields = ["cpu", "memory", "gpus", "gpuMilli"];

    public static JobSpec Parse(string yaml, string source)
    {
        var spec = new JobSpec { Resources = new Resources() };
        YamlNode? root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(yaml));
            root = stream.Documents.Count == 0 ? null : stream.Documents[0].RootNode;
        }
        catch (YamlException ex)
        {
            throw new FormatException($"{source}:{ex.Start.Line}: {(ex.InnerException ?? ex).Message}", ex);
        }

        if (root is null || IsNull(root))
        {
            return spec;
        }

        var reader = new Reader(source);
        foreach (var (key, value) in reader.Mapping(root, "the job file", Fields))
        {
            switch (key)
            {
                case "name": spec.Name = reader.Text(value, key); break;
                case "command": spec.Command = reader.Text(value, key); break;
                case "args": spec.Args.AddRange(reader.List(value, key)); break;
                case "env": spec.Env.Add(reader.Map(value, key)); break;
                case "workingDir": spec.WorkingDir = reader.Text(value, key); break;
                case "priority": spec.Priority = (int)reader.WholeNumber(value, key, int.MaxValue); break;
                case "gpuModels": spec.GpuModels.AddRange(reader.List(value, key)); break;
                case "nodeSelector": spec.NodeSelector.Add(reader.Map(value, key)); break;
                case "maxRetries": spec.MaxRetries = (int)reader.WholeNumber(value, key, int.MaxValue); break;
                case "tenant": spec.Tenant = reader.Text(value, key); break;
                case "runtimeEstimateSeconds": spec.RuntimeEstimateS = reader.WholeNumber(value, key, long.MaxValue); break;
                case "affinityKeys": spec.AffinityKeys.AddRange(reader.List(value, key)); break;
                case "replicas": spec.Replicas = (int)reader.WholeNumber(value, key, int.MaxValue); break;
                case "checkpointable": spec.Checkpointable = reader.Boolean(value, key); break;
                case "checkpointIntervalSeconds": spec.CheckpointIntervalS = (int)reader.WholeNumber(value, key, int.MaxValue); break;
                case "topology": spec.Topology = reader.Text(value, key); break;
                case "resources": ReadResources(reader, value, spec.Resources); break;
            }
        }

        return spec;
    }

    private static void ReadResources(Reader reader, YamlNode node, Resources resources)
    {
        foreach (var (key, value) in reader.Mapping(node, "resources", ResourceFields))
        {
            var field = $"resources.{key}";
            switch (key)
            {
                case "cpu": resources.CpuMillis = reader.Quantity(value, field, Quantities.CpuMillis); break;
                case "memory": resources.MemoryMib = reader.Quantity(value, field, Quantities.MemoryMib); break;
                case "gpus": resources.Gpus = (int)reader.WholeNumber(value, field, int.MaxValue); break;
                case "gpuMilli": resources.GpuMilli = (int)reader.WholeNumber(value, field, int.MaxValue); break;
            }
        }
    }

    // `key:` with nothing after it, or `~` / `null`: the field is left unset.
    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    private sealed class Reader(string source)
    {
        public IEnumerable<(string Key, YamlNode Value)> Mapping(YamlNode node, string what, string[] fields)
        {
            if (node is not YamlMappingNode mapping)
            {
                throw Error(node, $"{what} must be a mapping of field: value, {Got(node)}");
            }

            foreach (var (keyNode, value) in mapping.Children)
            {
                var key = (keyNode as YamlScalarNode)?.Value ?? "";
                if (!fields.Contains(key, StringComparer.Ordinal))
                {
                    var prefix = what == "resources" ? "resources." : "";
                    throw Error(keyNode, $"unknown field '{prefix}{key}' (known: {string.Join(", ", fields)})");
                }

                if (!IsNull(value))
                {
                    yield return (key, value);
                }
            }
        }

        public string Text(YamlNode node, string field) =>
            node is YamlScalarNode { Value: { } value } ? value : throw Error(node, $"{field}: expected a single value, {Got(node)}");

        public List<string> List(YamlNode node, string field)
        {
            if (node is not YamlSequenceNode sequence)
            {
                throw Error(node, $"{field}: expected a list such as [a, b], {Got(node)}");
            }

            return sequence.Children.Select(item => Text(item, $"{field} item")).ToList();
        }

        public Dictionary<string, string> Map(YamlNode node, string field)
        {
            if (node is not YamlMappingNode mapping)
            {
                throw Error(node, $"{field}: expected a mapping such as {{KEY: value}}, {Got(node)}");
            }

            var result = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (key, value) in mapping.Children)
            {
                var name = Text(key, $"{field} key");
                result[name] = IsNull(value) ? "" : Text(value, $"{field}.{name}");
            }

            return result;
        }

        public long WholeNumber(YamlNode node, string field, long max) =>
            node is YamlScalarNode { Value: { } text } && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value) && value <= max && value >= -max
                ? value
                : throw Error(node, $"{field}: expected a whole number, {Got(node)}");

        public bool Boolean(YamlNode node, string field) =>
            node is YamlScalarNode { Value: { } text } && bool.TryParse(text, out var value)
                ? value
                : throw Error(node, $"{field}: expected true or false, {Got(node)}");

        public long Quantity(YamlNode node, string field, Func<string, string, long> parse)
        {
            var text = Text(node, field);
            try
            {
                return parse(text, field);
            }
            catch (FormatException ex)
            {
                throw Error(node, ex.Message);
            }
        }

        private FormatException Error(YamlNode node, string message) => new($"{source}:{node.Start.Line}: {message}");

        private static string Got(YamlNode node) => node switch
        {
            YamlScalarNode scalar => $"got '{scalar.Value}'",
            YamlSequenceNode => "got a list",
            YamlMappingNode => "got a mapping",
            _ => "got something else",
        };
    }
}
