using Scheduler.Contracts.V1;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace Scheduler.Cli;

/// <summary>The YAML job file (`schedctl submit -f job.yaml`); field names are camelCase, unknown fields are errors.</summary>
internal sealed class JobFile
{
    public string? Name { get; set; }

    public string? Command { get; set; }

    public List<string> Args { get; set; } = [];

    public Dictionary<string, string> Env { get; set; } = [];

    public string? WorkingDir { get; set; }

    public ResourcesSection Resources { get; set; } = new();

    public int Priority { get; set; }

    public List<string> GpuModels { get; set; } = [];

    public Dictionary<string, string> NodeSelector { get; set; } = [];

    public int? MaxRetries { get; set; }

    public string? Tenant { get; set; }

    public long RuntimeEstimateSeconds { get; set; }

    public List<string> AffinityKeys { get; set; } = [];

    public int Replicas { get; set; }

    public bool Checkpointable { get; set; }

    public static JobSpec Parse(string yaml, string source)
    {
        var deserializer = new DeserializerBuilder().WithNamingConvention(CamelCaseNamingConvention.Instance).Build();
        JobFile file;
        try
        {
            file = deserializer.Deserialize<JobFile?>(yaml) ?? new JobFile();
        }
        catch (YamlException ex)
        {
            throw new FormatException($"{source}:{ex.Start.Line}: {(ex.InnerException ?? ex).Message}", ex);
        }

        return file.ToSpec();
    }

    public JobSpec ToSpec()
    {
        var spec = new JobSpec
        {
            Name = Name ?? "",
            Command = Command ?? "",
            WorkingDir = WorkingDir ?? "",
            Priority = Priority,
            Tenant = Tenant ?? "",
            RuntimeEstimateS = RuntimeEstimateSeconds,
            Replicas = Replicas,
            Checkpointable = Checkpointable,
            Resources = new Resources
            {
                CpuMillis = Resources.Cpu is null ? 0 : Quantities.CpuMillis(Resources.Cpu, "resources.cpu"),
                MemoryMib = Resources.Memory is null ? 0 : Quantities.MemoryMib(Resources.Memory, "resources.memory"),
                Gpus = Resources.Gpus,
                GpuMilli = Resources.GpuMilli,
            },
        };
        if (MaxRetries is { } retries)
        {
            spec.MaxRetries = retries;
        }

        spec.Args.AddRange(Args);
        spec.Env.Add(Env);
        spec.GpuModels.AddRange(GpuModels);
        spec.NodeSelector.Add(NodeSelector);
        spec.AffinityKeys.AddRange(AffinityKeys);
        return spec;
    }

    internal sealed class ResourcesSection
    {
        public string? Cpu { get; set; }

        public string? Memory { get; set; }

        public int Gpus { get; set; }

        public int GpuMilli { get; set; }
    }
}
