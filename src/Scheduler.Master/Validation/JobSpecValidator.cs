using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;

namespace Scheduler.Master.Validation;

/// <summary>
/// Checks a submission at the edge so the loop only ever sees valid specs: each failure names
/// the offending field, and nothing is stored when any field is wrong.
/// </summary>
internal static class JobSpecValidator
{
    public const int MaxRequestIdLength = 128;
    public const int MaxNameLength = 253;
    public const int MaxPathLength = 4096;
    public const int MaxArgs = 1024;
    public const int MaxArgBytes = 256 * 1024;
    public const int MaxEnvEntries = 256;
    public const int MaxEnvNameLength = 256;
    public const int MaxEnvBytes = 256 * 1024;
    public const int MaxValueLength = 32 * 1024;
    public const int MaxGpuModels = 16;
    public const int MaxSelectorEntries = 64;
    public const int MaxTenantLength = 63;
    public const int MaxRetriesLimit = 100;
    public const int MaxPriority = 1000;
    public const int MaxReplicas = 1024;
    public const int MaxAffinityKeys = 16;
    public const long MaxRuntimeEstimateSeconds = 366L * 24 * 3600;

    public const int MaxCheckpointIntervalSeconds = 24 * 3600;

    public static void Validate(SubmitJobRequest request)
    {
        if (string.IsNullOrWhiteSpace(request.RequestId))
        {
            throw Invalid("request_id", "is required (any unique string, e.g. a UUID; a retry must reuse it)");
        }

        if (request.RequestId.Length > MaxRequestIdLength)
        {
            throw Invalid("request_id", $"must be at most {MaxRequestIdLength} characters");
        }

        if (request.Spec is null)
        {
            throw Invalid("spec", "is required");
        }

        ValidateSpec(request.Spec);
    }

    public static void ValidateSpec(JobSpec spec)
    {
        if (spec.Name.Length > MaxNameLength)
        {
            throw Invalid("spec.name", $"must be at most {MaxNameLength} characters");
        }

        if (string.IsNullOrWhiteSpace(spec.Command))
        {
            throw Invalid("spec.command", "is required");
        }

        RequireText("spec.command", spec.Command, MaxPathLength);
        if (spec.Args.Count > MaxArgs)
        {
            throw Invalid("spec.args", $"must have at most {MaxArgs} entries (got {spec.Args.Count})");
        }

        long argBytes = 0;
        for (var i = 0; i < spec.Args.Count; i++)
        {
            RequireText($"spec.args[{i}]", spec.Args[i], MaxValueLength, allowEmpty: true);
            argBytes += spec.Args[i].Length;
        }

        if (argBytes > MaxArgBytes)
        {
            throw Invalid("spec.args", $"must total at most {MaxArgBytes} characters (got {argBytes})");
        }

        if (spec.Env.Count > MaxEnvEntries)
        {
            throw Invalid("spec.env", $"must have at most {MaxEnvEntries} entries (got {spec.Env.Count})");
        }

        long envBytes = 0;
        foreach (var (key, value) in spec.Env)
        {
            if (key.Length == 0 || key.Length > MaxEnvNameLength || key.Contains('=', StringComparison.Ordinal) || key.Contains('\0', StringComparison.Ordinal))
            {
                throw Invalid("spec.env", $"has an invalid variable name '{Printable(key.Length > 64 ? key[..64] + "..." : key)}' (1 to {MaxEnvNameLength} characters, no '=' or NUL)");
            }

            RequireText($"spec.env[{key}]", value, MaxValueLength, allowEmpty: true);
            envBytes += key.Length + value.Length;
        }

        if (envBytes > MaxEnvBytes)
        {
            throw Invalid("spec.env", $"must total at most {MaxEnvBytes} characters (got {envBytes})");
        }

        if (spec.WorkingDir.Length > 0)
        {
            RequireText("spec.working_dir", spec.WorkingDir, MaxPathLength);
            if (!spec.WorkingDir.StartsWith('/'))
            {
                throw Invalid("spec.working_dir", "must be an absolute path");
            }
        }

        ValidateResources(spec.Resources);

        if (spec.Priority < 0 || spec.Priority > MaxPriority)
        {
            throw Invalid("spec.priority", $"must be between 1 and {MaxPriority}, or 0 for the default (got {spec.Priority})");
        }

        if (spec.GpuModels.Count > MaxGpuModels)
        {
            throw Invalid("spec.gpu_models", $"must have at most {MaxGpuModels} entries");
        }

        for (var i = 0; i < spec.GpuModels.Count; i++)
        {
            RequireText($"spec.gpu_models[{i}]", spec.GpuModels[i], MaxNameLength);
        }

        if (spec.GpuModels.Count > 0 && spec.Resources.Gpus == 0 && spec.Resources.GpuMilli == 0)
        {
            throw Invalid("spec.gpu_models", "is set but the job asks for no GPU");
        }

        if (spec.NodeSelector.Count > MaxSelectorEntries)
        {
            throw Invalid("spec.node_selector", $"must have at most {MaxSelectorEntries} entries");
        }

        foreach (var (key, value) in spec.NodeSelector)
        {
            RequireText("spec.node_selector", key, MaxNameLength);
            RequireText($"spec.node_selector[{key}]", value, MaxNameLength, allowEmpty: true);
        }

        if (spec.HasMaxRetries && (spec.MaxRetries < 0 || spec.MaxRetries > MaxRetriesLimit))
        {
            throw Invalid("spec.max_retries", $"must be between 0 and {MaxRetriesLimit} (got {spec.MaxRetries})");
        }

        if (spec.Tenant.Length > MaxTenantLength)
        {
            throw Invalid("spec.tenant", $"must be at most {MaxTenantLength} characters");
        }

        if (spec.RuntimeEstimateS < 0 || spec.RuntimeEstimateS > MaxRuntimeEstimateSeconds)
        {
            throw Invalid("spec.runtime_estimate_s", $"must be between 0 (unknown) and {MaxRuntimeEstimateSeconds} seconds (got {spec.RuntimeEstimateS})");
        }

        if (spec.AffinityKeys.Count > MaxAffinityKeys)
        {
            throw Invalid("spec.affinity_keys", $"must have at most {MaxAffinityKeys} entries");
        }

        for (var i = 0; i < spec.AffinityKeys.Count; i++)
        {
            RequireText($"spec.affinity_keys[{i}]", spec.AffinityKeys[i], MaxNameLength);
        }

        if (spec.CheckpointIntervalS < 0 || spec.CheckpointIntervalS > MaxCheckpointIntervalSeconds)
        {
            throw Invalid("spec.checkpoint_interval_s", $"must be between 0 (never) and {MaxCheckpointIntervalSeconds} seconds (got {spec.CheckpointIntervalS})");
        }

        if (spec.CheckpointIntervalS > 0 && !spec.Checkpointable)
        {
            throw Invalid("spec.checkpoint_interval_s", "needs spec.checkpointable: only an agent that follows the checkpoint contract can be checkpointed");
        }

        ValidateTopology(spec);

        if (spec.Replicas < 0 || spec.Replicas > MaxReplicas)
        {
            throw Invalid("spec.replicas", $"must be between 0 and {MaxReplicas} (got {spec.Replicas})");
        }

        if (spec.Replicas > 1 && spec.Checkpointable)
        {
            throw Invalid("spec.checkpointable", "a gang job (spec.replicas > 1) cannot be checkpointable: gangs are not checkpointed, suspended or migrated; a lost replica requeues the whole gang");
        }
    }

    private static void ValidateTopology(JobSpec spec)
    {
        if (!TopologyLevels.TryParse(spec.Topology, out _))
        {
            throw Invalid("spec.topology", $"must be one of {string.Join(", ", TopologyLevels.Names)}, or empty for no requirement (got '{Printable(spec.Topology.Length > 64 ? spec.Topology[..64] + "..." : spec.Topology)}')");
        }

        if (spec.Topology.Length > 0 && spec.Resources.Gpus == 0)
        {
            throw Invalid("spec.topology", "is set but the job asks for no whole GPUs (resources.gpus): topology concerns how a job's GPUs are connected");
        }
    }

    private static void ValidateResources(Contracts.V1.Resources? r)
    {
        if (r is null)
        {
            throw Invalid("spec.resources", "is required (ask for some CPU or memory)");
        }

        if (r.CpuMillis < 0 || r.CpuMillis > ResourceLimits.MaxCpuMillis)
        {
            throw Invalid("spec.resources.cpu_millis", $"must be between 0 and {ResourceLimits.MaxCpuMillis} (got {r.CpuMillis})");
        }

        if (r.MemoryMib < 0 || r.MemoryMib > ResourceLimits.MaxMemoryMib)
        {
            throw Invalid("spec.resources.memory_mib", $"must be between 0 and {ResourceLimits.MaxMemoryMib} (got {r.MemoryMib})");
        }

        if (r.CpuMillis == 0 && r.MemoryMib == 0)
        {
            throw Invalid("spec.resources", "must ask for some CPU (cpu_millis) or memory (memory_mib)");
        }

        if (r.Gpus < 0 || r.Gpus > ResourceLimits.MaxGpus)
        {
            throw Invalid("spec.resources.gpus", $"must be between 0 and {ResourceLimits.MaxGpus} (got {r.Gpus})");
        }

        if (r.GpuMilli < 0 || r.GpuMilli >= ResourceLimits.MilliPerGpu)
        {
            throw Invalid("spec.resources.gpu_milli", $"must be between 1 and 999 for a shared GPU, or 0 (got {r.GpuMilli}); use gpus for whole GPUs");
        }

        if (r.Gpus > 0 && r.GpuMilli > 0)
        {
            throw Invalid("spec.resources.gpu_milli", "cannot be combined with gpus: ask whole GPUs or a share of one");
        }
    }

    private static void RequireText(string field, string value, int maxLength, bool allowEmpty = false)
    {
        if (!allowEmpty && value.Length == 0)
        {
            throw Invalid(field, "must not be empty");
        }

        if (value.Length > maxLength)
        {
            throw Invalid(field, $"must be at most {maxLength} characters (got {value.Length})");
        }

        if (value.Contains('\0', StringComparison.Ordinal))
        {
            throw Invalid(field, "must not contain NUL characters");
        }
    }

    private static string Printable(string s) => s.Replace("\0", "\\0", StringComparison.Ordinal);

    private static RpcException Invalid(string field, string problem) =>
        new(new Status(StatusCode.InvalidArgument, $"{field} {problem}"));
}
