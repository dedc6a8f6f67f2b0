using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;

namespace Scheduler.Master.Validation;

/// <summary>
/// Bounds what a worker's stream may carry before the loop sees it: a registration becomes a stored
/// node record, and heartbeats and reports are kept in memory, so sizes, counts and numbers are
/// checked here. Each failure ends the stream with INVALID_ARGUMENT naming the field and the limit.
/// </summary>
internal static class WorkerMessageValidator
{
    public const int MaxNodeIdLength = 253;
    public const int MaxHostnameLength = 253;
    public const int MaxAddressLength = 2048;
    public const int MaxVersionLength = 128;
    public const int MaxLabels = 64;
    public const int MaxLabelLength = 253;
    public const int MaxCapabilities = 64;
    public const int MaxCapabilityLength = 64;
    public const int MaxAgents = 10_000;
    public const int MaxCachedKeys = 10_000;
    public const int MaxIdLength = 256;
    public const int MaxGpuUuidLength = 128;
    public const int MaxTextLength = 4096;

    /// <summary>An epoch no real cluster reaches; above it, raising the master past a worker's epoch could overflow.</summary>
    public const long MaxEpoch = 1L << 62;

    public static void Validate(RegisterWorker r)
    {
        Text("register.node_id", r.NodeId, MaxNodeIdLength, required: true);
        Text("register.hostname", r.Hostname, MaxHostnameLength);
        Text("register.transfer_address", r.TransferAddress, MaxAddressLength);
        Text("register.worker_version", r.WorkerVersion, MaxVersionLength);
        if (r.Capacity is null || r.Capacity.CpuMillis <= 0 || r.Capacity.MemoryMib <= 0)
        {
            throw Invalid("register.capacity", "must give positive cpu_millis and memory_mib");
        }

        if (r.Capacity.CpuMillis > ResourceLimits.MaxCpuMillis || r.Capacity.MemoryMib > ResourceLimits.MaxMemoryMib
            || r.Capacity.Gpus is < 0 or > ResourceLimits.MaxGpus || r.Capacity.GpuMilli != 0)
        {
            throw Invalid("register.capacity", $"must be at most {ResourceLimits.MaxCpuMillis} cpu_millis, {ResourceLimits.MaxMemoryMib} memory_mib and {ResourceLimits.MaxGpus} gpus, with no gpu_milli");
        }

        if (r.Gpus.Count > ResourceLimits.MaxGpus)
        {
            throw Invalid("register.gpus", $"must list at most {ResourceLimits.MaxGpus} GPUs");
        }

        if (r.Gpus.Select(g => g.Uuid).Distinct(StringComparer.Ordinal).Count() != r.Gpus.Count || r.Gpus.Any(g => g.Uuid.Length == 0))
        {
            throw Invalid("register.gpus", "must have distinct, non-empty UUIDs");
        }

        for (var i = 0; i < r.Gpus.Count; i++)
        {
            var gpu = r.Gpus[i];
            Text($"register.gpus[{i}].uuid", gpu.Uuid, MaxGpuUuidLength, required: true);
            Text($"register.gpus[{i}].model", gpu.Model, MaxLabelLength);
            if (gpu.Index < 0 || gpu.MemoryMib < 0 || gpu.MemoryMib > ResourceLimits.MaxMemoryMib)
            {
                throw Invalid($"register.gpus[{i}]", $"index and memory_mib must be between 0 and {ResourceLimits.MaxMemoryMib}");
            }
        }

        if (r.Labels.Count > MaxLabels)
        {
            throw Invalid("register.labels", $"must have at most {MaxLabels} entries (got {r.Labels.Count})");
        }

        foreach (var (key, value) in r.Labels)
        {
            Text("register.labels", key, MaxLabelLength, required: true);
            Text($"register.labels[{key}]", value, MaxLabelLength);
        }

        if (r.Capabilities.Count > MaxCapabilities)
        {
            throw Invalid("register.capabilities", $"must have at most {MaxCapabilities} entries");
        }

        for (var i = 0; i < r.Capabilities.Count; i++)
        {
            Text($"register.capabilities[{i}]", r.Capabilities[i], MaxCapabilityLength, required: true);
        }

        if (r.LastEpoch is < 0 or > MaxEpoch)
        {
            throw Invalid("register.last_epoch", $"must be between 0 and {MaxEpoch} (got {r.LastEpoch})");
        }

        Agents("register.agents", r.Agents);
    }

    /// <summary>Checks a message after registration; a second registration on one stream is out of order.</summary>
    public static void Validate(WorkerMessage message)
    {
        switch (message.BodyCase)
        {
            case WorkerMessage.BodyOneofCase.None:
                throw Invalid("body", "is required (one of heartbeat, agent_event, logs, leaving, command_rejected, migration_report, checkpoint_report)");
            case WorkerMessage.BodyOneofCase.Register:
                throw new RpcException(new Status(StatusCode.FailedPrecondition, "register: this stream is registered already; open a new stream to register again"));
            case WorkerMessage.BodyOneofCase.Heartbeat:
                var heartbeat = message.Heartbeat;
                if (heartbeat.Gpus.Count > ResourceLimits.MaxGpus)
                {
                    throw Invalid("heartbeat.gpus", $"must list at most {ResourceLimits.MaxGpus} GPUs");
                }

                if (heartbeat.CachedKeys.Count > MaxCachedKeys || heartbeat.CachedKeys.Any(k => k.Length > MaxIdLength))
                {
                    throw Invalid("heartbeat.cached_keys", $"must have at most {MaxCachedKeys} entries of at most {MaxIdLength} characters");
                }

                Agents("heartbeat.agents", heartbeat.Agents);
                break;
            case WorkerMessage.BodyOneofCase.AgentEvent:
                if (message.AgentEvent.Agent is null)
                {
                    throw Invalid("agent_event.agent", "is required");
                }

                Agent("agent_event.agent", message.AgentEvent.Agent);
                break;
            case WorkerMessage.BodyOneofCase.Logs:
                Text("logs.request_id", message.Logs.RequestId, MaxIdLength);
                break;
            case WorkerMessage.BodyOneofCase.Leaving:
                Text("leaving.reason", message.Leaving.Reason, MaxTextLength);
                break;
            case WorkerMessage.BodyOneofCase.CommandRejected:
                Text("command_rejected.command", message.CommandRejected.Command, MaxIdLength);
                Text("command_rejected.reason", message.CommandRejected.Reason, MaxTextLength);
                break;
            case WorkerMessage.BodyOneofCase.MigrationReport:
                var migration = message.MigrationReport;
                Text("migration_report.migration_id", migration.MigrationId, MaxIdLength);
                Text("migration_report.job_id", migration.JobId, MaxIdLength);
                Text("migration_report.error", migration.Error, MaxTextLength);
                if (migration.Attempt < 0 || migration.Rounds < 0 || migration.BytesSent < 0)
                {
                    throw Invalid("migration_report", "attempt, rounds and bytes_sent must not be negative");
                }

                break;
            case WorkerMessage.BodyOneofCase.CheckpointReport:
                var checkpoint = message.CheckpointReport;
                Text("checkpoint_report.checkpoint_id", checkpoint.CheckpointId, MaxIdLength);
                Text("checkpoint_report.job_id", checkpoint.JobId, MaxIdLength);
                Text("checkpoint_report.error", checkpoint.Error, MaxTextLength);
                if (checkpoint.StoredOn.Count > MaxLabels || checkpoint.StoredOn.Any(n => n.Length > MaxNodeIdLength))
                {
                    throw Invalid("checkpoint_report.stored_on", $"must name at most {MaxLabels} nodes of at most {MaxNodeIdLength} characters");
                }

                if (checkpoint.Attempt < 0 || checkpoint.Bytes < 0 || checkpoint.BytesSent < 0)
                {
                    throw Invalid("checkpoint_report", "attempt, bytes and bytes_sent must not be negative");
                }

                break;
        }
    }

    private static void Agents(string field, Google.Protobuf.Collections.RepeatedField<AgentStatus> agents)
    {
        if (agents.Count > MaxAgents)
        {
            throw Invalid(field, $"must have at most {MaxAgents} entries (got {agents.Count})");
        }

        for (var i = 0; i < agents.Count; i++)
        {
            Agent($"{field}[{i}]", agents[i]);
        }
    }

    private static void Agent(string field, AgentStatus agent)
    {
        Text($"{field}.job_id", agent.JobId, MaxIdLength, required: true);
        Text($"{field}.message", agent.Message, MaxTextLength);
        if (agent.Attempt < 0)
        {
            throw Invalid($"{field}.attempt", $"must not be negative (got {agent.Attempt})");
        }

        if (!Enum.IsDefined(agent.State) || agent.State == AgentState.Unspecified)
        {
            throw Invalid($"{field}.state", $"must be one of STARTING, RUNNING, EXITED, FAILED_TO_START (got {(int)agent.State})");
        }
    }

    private static void Text(string field, string value, int maxLength, bool required = false)
    {
        if (required && string.IsNullOrWhiteSpace(value))
        {
            throw Invalid(field, "is required");
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

    private static RpcException Invalid(string field, string problem) =>
        new(new Status(StatusCode.InvalidArgument, $"{field} {problem}"));
}
