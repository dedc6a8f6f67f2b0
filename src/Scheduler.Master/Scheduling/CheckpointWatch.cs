using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The jobs the loop's tick looks at for checkpoints, kept as their records change: those asking for
/// periodic checkpoints, and those with a checkpoint operation in flight (which may expire). Walking every
/// allocation of every node for them at each tick was a tenth of the loop with thousands of jobs running
/// (dotnet-trace of the master, bench e2e).
/// </summary>
internal sealed class CheckpointWatch
{
    private readonly HashSet<string> _periodic = new(StringComparer.Ordinal);
    private readonly HashSet<string> _checkpointing = new(StringComparer.Ordinal);

    /// <summary>The job's record became <paramref name="after"/> (null: forgotten).</summary>
    public void Changed(string jobId, JobRecord? after)
    {
        if (after is { Spec.CheckpointIntervalS: > 0, IsTerminal: false })
        {
            _periodic.Add(jobId);
        }
        else
        {
            _periodic.Remove(jobId);
        }

        if (after?.Checkpointing is not null)
        {
            _checkpointing.Add(jobId);
        }
        else
        {
            _checkpointing.Remove(jobId);
        }
    }

    /// <summary>Jobs asking for periodic checkpoints, by id: a copy, so the caller may change records as it goes.</summary>
    public string[] Periodic() => Sorted(_periodic);

    /// <summary>Jobs with a checkpoint operation in flight, by id: a copy.</summary>
    public string[] Checkpointing() => Sorted(_checkpointing);

    private static string[] Sorted(HashSet<string> ids)
    {
        if (ids.Count == 0)
        {
            return [];
        }

        var sorted = ids.ToArray();
        Array.Sort(sorted, StringComparer.Ordinal);
        return sorted;
    }
}
