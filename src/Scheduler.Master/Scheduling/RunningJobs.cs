using System.Collections;
using System.Diagnostics.CodeAnalysis;
using Scheduler.Core.Cluster;
using Scheduler.Core.Fairness;
using Scheduler.Core.Queueing;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// What holds capacity, as a scheduling pass reads it: the jobs of the allocations on the nodes (tenant,
/// priority, start, estimate) and each tenant's usage. Kept per node and summed again only for the nodes
/// whose allocations changed since the last <see cref="Refresh"/> (their <see cref="NodeState.AllocationsVersion"/>
/// moved, or their state was replaced): building both from every allocation was up to half of each
/// pass, a fixed cost that grew with the jobs running (dotnet-trace of the master, bench e2e).
/// </summary>
/// <remarks>
/// As a dictionary it answers for the allocations present at the last refresh whose job the loop
/// knows, exactly as the table built from every allocation did: a job is read when first asked for after
/// a refresh (the pass asks only for preemption victims and backfill ends), and answered the same until
/// the next refresh, as a table built at the refresh would.
/// An allocation with no known job counts for no tenant; its node is summed again at every refresh until
/// the job is known.
/// </remarks>
internal sealed class RunningJobs : IReadOnlyDictionary<string, RunningJob>
{
    private readonly IReadOnlyDictionary<string, NodeEntry> _nodes;
    private readonly Func<string, JobRecord?> _jobOf;
    private readonly Func<JobRecord, string> _tenantOf;
    private readonly Func<JobRecord, string, RunningJob> _describe;
    private readonly Dictionary<string, Seen> _seen = new(StringComparer.Ordinal);

    // How many nodes held each allocation id at the last refresh: a migrating job holds one on two nodes.
    private readonly Dictionary<string, int> _holders = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ResourceTotals> _usage = new(StringComparer.Ordinal);

    // What the pass was last told of each allocation's job, from which record, and in which refresh: within
    // one refresh it is answered at once (backfill asks for every allocation's end, several times a pass);
    // in a later one it is made again only if the record changed.
    private readonly Dictionary<string, (JobRecord Job, RunningJob Running, long Refresh)> _described = new(StringComparer.Ordinal);
    private long _refreshes;

    // Allocations counted in each tenant's usage: a tenant leaves the usage when its last one goes, as
    // in a sum over every allocation (an allocation of nothing still makes its tenant present).
    private readonly Dictionary<string, int> _counted = new(StringComparer.Ordinal);
    private bool _resumAll = true;

    public RunningJobs(
        IReadOnlyDictionary<string, NodeEntry> nodes,
        Func<string, JobRecord?> jobOf,
        Func<JobRecord, string> tenantOf,
        Func<JobRecord, string, RunningJob> describe)
    {
        _nodes = nodes;
        _jobOf = jobOf;
        _tenantOf = tenantOf;
        _describe = describe;
    }

    /// <summary>Checks every refresh against a table built from every allocation and throws on any difference (tests turn it on).</summary>
    public bool Verify { get; init; }

    /// <summary>Each tenant's usage at the last refresh: tenants holding nothing have no entry.</summary>
    public IReadOnlyDictionary<string, ResourceTotals> Usage => _usage;

    /// <summary>Allocation ids present at the last refresh, with or without a known job.</summary>
    public int Allocations => _holders.Count;

    /// <summary>
    /// Jobs left the loop's memory (retention): their allocations, if any were left, now count for no
    /// tenant, so everything is summed again at the next refresh. Rare: jobs leave once finished.
    /// </summary>
    public void JobsForgotten() => _resumAll = true;

    /// <summary>Brings the table up to the nodes' allocations now. Costs one version check per node, plus the allocations of nodes that changed.</summary>
    public void Refresh()
    {
        _refreshes++;
        var visited = 0;
        foreach (var (id, entry) in _nodes)
        {
            visited++;
            var state = entry.State;
            if (!_seen.TryGetValue(id, out var seen))
            {
                seen = new Seen();
                _seen[id] = seen;
            }
            else if (!_resumAll && !seen.Orphans && ReferenceEquals(seen.State, state) && seen.Version == state.AllocationsVersion)
            {
                continue;
            }

            Forget(seen);
            Sum(seen, state);
        }

        if (visited != _seen.Count)
        {
            foreach (var gone in _seen.Keys.Where(id => !_nodes.ContainsKey(id)).ToList())
            {
                Forget(_seen[gone]);
                _seen.Remove(gone);
            }
        }

        _resumAll = false;
        if (Verify)
        {
            CheckAgainstFullBuild();
        }
    }

    private void Forget(Seen seen)
    {
        foreach (var id in seen.Ids)
        {
            if (--_holders[id] == 0)
            {
                _holders.Remove(id);
                _described.Remove(id);
            }
        }

        foreach (var (tenant, (held, allocations)) in seen.ByTenant)
        {
            var left = _counted[tenant] - allocations;
            if (left == 0)
            {
                _usage.Remove(tenant);
                _counted.Remove(tenant);
            }
            else
            {
                _usage[tenant] -= held;
                _counted[tenant] = left;
            }
        }

        seen.Ids.Clear();
        seen.ByTenant.Clear();
    }

    private void Sum(Seen seen, NodeState state)
    {
        seen.State = state;
        seen.Version = state.AllocationsVersion;
        seen.Orphans = false;
        foreach (var allocation in state.Allocations.Values)
        {
            seen.Ids.Add(allocation.JobId);
            _holders[allocation.JobId] = _holders.GetValueOrDefault(allocation.JobId) + 1;
            if (_jobOf(allocation.JobId) is not { } job)
            {
                seen.Orphans = true;
                continue;
            }

            var tenant = _tenantOf(job);
            var held = ResourceTotals.Of(allocation.Resources);
            var (before, allocations) = seen.ByTenant.GetValueOrDefault(tenant);
            seen.ByTenant[tenant] = (before + held, allocations + 1);
            _usage[tenant] = _usage.GetValueOrDefault(tenant) + held;
            _counted[tenant] = _counted.GetValueOrDefault(tenant) + 1;
        }
    }

    private void CheckAgainstFullBuild()
    {
        var usage = new Dictionary<string, ResourceTotals>(StringComparer.Ordinal);
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var entry in _nodes.Values)
        {
            foreach (var allocation in entry.State.Allocations.Values)
            {
                ids.Add(allocation.JobId);
                if (_jobOf(allocation.JobId) is { } job)
                {
                    var tenant = _tenantOf(job);
                    usage[tenant] = usage.GetValueOrDefault(tenant) + ResourceTotals.Of(allocation.Resources);
                }
            }
        }

        if (!ids.SetEquals(_holders.Keys) ||
            usage.Count != _usage.Count ||
            usage.Any(kv => !_usage.TryGetValue(kv.Key, out var kept) || kept != kv.Value))
        {
            throw new InvalidOperationException(
                $"Running-job table out of date: {ids.Count} allocations on the nodes, {_holders.Count} in the table; " +
                $"usage by a full sum {string.Join(", ", usage.Select(kv => $"{kv.Key}={kv.Value}"))}, " +
                $"kept {string.Join(", ", _usage.Select(kv => $"{kv.Key}={kv.Value}"))}");
        }
    }

    public int Count
    {
        get
        {
            var count = 0;
            foreach (var id in _holders.Keys)
            {
                count += _jobOf(id) is null ? 0 : 1;
            }

            return count;
        }
    }

    public IEnumerable<string> Keys => this.Select(kv => kv.Key);

    public IEnumerable<RunningJob> Values => this.Select(kv => kv.Value);

    public RunningJob this[string key] => TryGetValue(key, out var job) ? job : throw new KeyNotFoundException(key);

    public bool ContainsKey(string key) => _holders.ContainsKey(key) && _jobOf(key) is not null;

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out RunningJob value)
    {
        if (_described.TryGetValue(key, out var known) && known.Refresh == _refreshes)
        {
            value = known.Running;
            return true;
        }

        if (_holders.ContainsKey(key) && _jobOf(key) is { } job)
        {
            value = Describe(job, key);
            return true;
        }

        value = null;
        return false;
    }

    public IEnumerator<KeyValuePair<string, RunningJob>> GetEnumerator()
    {
        foreach (var id in _holders.Keys)
        {
            if (_jobOf(id) is { } job)
            {
                yield return new KeyValuePair<string, RunningJob>(id, Describe(job, id));
            }
        }
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private RunningJob Describe(JobRecord job, string allocationId)
    {
        // Records are immutable: the same record describes the same running job. Backfill asks for
        // every allocation's end at each pass that reserves, so this is asked thousands of times a pass.
        var running = _described.TryGetValue(allocationId, out var known) && ReferenceEquals(known.Job, job)
            ? known.Running
            : _describe(job, allocationId);
        _described[allocationId] = (job, running, _refreshes);
        return running;
    }

    private sealed class Seen
    {
        public NodeState? State { get; set; }

        public long Version { get; set; }

        public bool Orphans { get; set; }

        public List<string> Ids { get; } = [];

        public Dictionary<string, (ResourceTotals Held, int Allocations)> ByTenant { get; } = new(StringComparer.Ordinal);
    }
}
