using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The jobs holding an allocation on each node (a single job on its node, a gang on each node where a replica
/// holds), kept as the loop's job table changes, so that a node registering, reshaped or declared dead costs the
/// jobs on it rather than a scan of every job the master knows (a 10,000-node registration storm over 100,000
/// stored jobs was 10^9 record checks).
/// </summary>
internal sealed class JobsByNode
{
    private readonly Dictionary<string, HashSet<string>> _byNode = new(StringComparer.Ordinal);

    /// <summary>Moves the job from the nodes <paramref name="before"/> held to those <paramref name="after"/> holds.</summary>
    public void Update(JobRecord? before, JobRecord? after)
    {
        if (before is { IsGang: false } && after is { IsGang: false } &&
            before.HoldsAllocation == after.HoldsAllocation && string.Equals(before.NodeId, after.NodeId, StringComparison.Ordinal))
        {
            // Most changes (started, exit reported) leave a job where it was.
            return;
        }

        if (before is not null)
        {
            foreach (var node in NodesOf(before))
            {
                // An emptied set stays: nodes are few and come back, and making one again for each
                // node's next job was most of this index's cost (dotnet-trace, bench e2e).
                if (_byNode.TryGetValue(node, out var ids))
                {
                    ids.Remove(before.Id);
                }
            }
        }

        if (after is not null)
        {
            foreach (var node in NodesOf(after))
            {
                if (!_byNode.TryGetValue(node, out var ids))
                {
                    ids = new HashSet<string>(StringComparer.Ordinal);
                    _byNode.Add(node, ids);
                }

                ids.Add(after.Id);
            }
        }
    }

    /// <summary>
    /// The jobs holding an allocation on <paramref name="nodeId"/> that match <paramref name="where"/>, in submission
    /// order (the order a scan of the job table met them in), as a snapshot the caller may change the table under.
    /// </summary>
    public JobRecord[] On(string nodeId, IReadOnlyDictionary<string, JobRecord> jobs, Func<JobRecord, bool> where)
    {
        if (!_byNode.TryGetValue(nodeId, out var ids))
        {
            return [];
        }

        var found = new List<JobRecord>(ids.Count);
        foreach (var id in ids)
        {
            if (jobs.TryGetValue(id, out var job) && where(job))
            {
                found.Add(job);
            }
        }

        found.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        return [.. found];
    }

    private static IEnumerable<string> NodesOf(JobRecord job)
    {
        if (!job.HoldsAllocation)
        {
            return [];
        }

        if (!job.IsGang)
        {
            return job.NodeId is { } node ? [node] : [];
        }

        return job.Replicas.Where(r => r.Holds).Select(r => r.NodeId).Distinct(StringComparer.Ordinal);
    }
}
