using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Link;

/// <summary>
/// What this worker tells the master it can do beyond running agents, each named by a stable
/// string. Only what the worker actually has here is reported: a host without cgroup delegation
/// does not claim CPU or memory limits.
/// </summary>
internal static class WorkerCapabilities
{
    /// <summary>Agents get a cgroup with a CPU quota.</summary>
    public const string CgroupCpu = "cgroup.cpu";

    /// <summary>Agents get a cgroup with a memory limit.</summary>
    public const string CgroupMemory = "cgroup.memory";

    /// <summary>A keeper process outlives the worker and kills its agents once the fencing lease lapses.</summary>
    public const string Keeper = "keeper";

    /// <summary>Serves checkpoint transfer to peers (at RegisterWorker.transfer_address).</summary>
    public const string TransferV1 = "transfer.v1";

    /// <summary>Checkpointable agents are checkpointed by asking them (the agent checkpoint contract) and can be migrated live.</summary>
    public const string CheckpointAppLevel = "checkpoint.app-level";

    /// <summary>The capabilities, in ordinal order.</summary>
    public static IReadOnlyList<string> Of(AgentCgroups? cgroups, bool keeper, bool transfer, bool appLevelCheckpoints = false)
    {
        var capabilities = new List<string>();
        if (cgroups?.CpuLimits == true)
        {
            capabilities.Add(CgroupCpu);
        }

        if (cgroups?.MemoryLimits == true)
        {
            capabilities.Add(CgroupMemory);
        }

        if (keeper)
        {
            capabilities.Add(Keeper);
        }

        if (transfer)
        {
            capabilities.Add(TransferV1);
        }

        if (appLevelCheckpoints)
        {
            capabilities.Add(CheckpointAppLevel);
        }

        capabilities.Sort(StringComparer.Ordinal);
        return capabilities;
    }
}
