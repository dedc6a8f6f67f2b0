using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;

namespace Scheduler.Core.Scaling;

/// <summary>How many hosts of one kind to add (positive) or remove (negative), and why; an entry with no kind (and 0) only notes jobs no host shape fits.</summary>
public sealed record ScalingAdvice(string Model, int Delta, string Reason);

/// <summary>
/// One waiting job as the advisor counts it: <paramref name="Replicas"/> replicas (a gang), each asking
/// <paramref name="Demand"/>, all placed or none.
/// </summary>
public sealed record PendingDemand(JobDemand Demand, int Replicas = 1);

/// <summary>How the advisor judges demand and idleness.</summary>
public sealed record ScalingOptions
{
    /// <summary>Hosts are advised away only after the cluster was observed this long, using the peak over it.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Idle hosts of each kind kept beyond the window's peak need.</summary>
    public int SpareHosts { get; init; } = 1;
}

/// <summary>
/// The autoscaling signal: from pending demand and recent utilisation, how many more or fewer hosts
/// of each kind (GPU model, or "cpu" for hosts without GPUs) the cluster needs. More: the pending jobs
/// are packed (best fit) onto what is free now, and what does not fit onto new hosts shaped like the
/// existing ones of a kind the job accepts; the count of new hosts is the advice. Fewer: where no job
/// of a kind waits, the peak use over the window (with spare hosts kept) shows how many hosts are not
/// needed, of which only those idle now are advised away. Pure and deterministic: the caller feeds
/// observations with their time.
/// </summary>
public sealed class ScalingAdvisor
{
    /// <summary>The kind of hosts without GPUs.</summary>
    public const string CpuOnly = "cpu";

    /// <summary>Pending jobs packed per advice at most.</summary>
    public const int MaxPendingConsidered = 2000;

    private readonly ScalingOptions _options;
    private readonly PlacementEngine _packing = new(new BestFitPolicy());
    private readonly Queue<Observation> _history = new();

    public ScalingAdvisor(ScalingOptions? options = null) => _options = options ?? new ScalingOptions();

    /// <summary>The kind of <paramref name="node"/>: its first GPU's model, or <see cref="CpuOnly"/>.</summary>
    public static string KindOf(NodeState node) => node.Gpus.Count == 0 ? CpuOnly : node.Gpus[0].Model;

    /// <summary>Records what is used on each kind of host now.</summary>
    public void Observe(DateTimeOffset now, IEnumerable<NodeState> nodes)
    {
        var use = new Dictionary<string, Use>(StringComparer.Ordinal);
        foreach (var node in nodes.Where(n => n.Health != NodeHealth.Dead))
        {
            var kind = KindOf(node);
            var used = use.GetValueOrDefault(kind);
            use[kind] = new Use(
                used.GpuMilli + node.GpuCapacityMilli - node.GpuFreeMilliTotal,
                used.CpuMillis + node.CpuCapacity - node.CpuFree,
                used.MemoryMib + node.MemoryCapacity - node.MemoryFree);
        }

        _history.Enqueue(new Observation(now, use));
        while (_history.Count > 1 && now - _history.Peek().At > _options.Window)
        {
            _history.Dequeue();
        }
    }

    /// <summary>The advice now, one entry per kind that should change, ordered by kind.</summary>
    public IReadOnlyList<ScalingAdvice> Advise(DateTimeOffset now, IReadOnlyCollection<NodeState> nodes, IReadOnlyCollection<JobDemand> pending) =>
        Advise(now, nodes, [.. pending.Select(d => new PendingDemand(d))]);

    /// <summary>
    /// The advice now, one entry per kind that should change, ordered by kind. A gang counts every replica's
    /// demand and all or nothing: it is packed whole (onto free capacity and new hosts), or, when no host
    /// shape takes its replicas, noted as fitting none and adds nothing.
    /// </summary>
    public IReadOnlyList<ScalingAdvice> Advise(DateTimeOffset now, IReadOnlyCollection<NodeState> nodes, IReadOnlyCollection<PendingDemand> pending)
    {
        var live = nodes.Where(n => n.Health != NodeHealth.Dead).ToList();
        var advice = new SortedDictionary<string, ScalingAdvice>(StringComparer.Ordinal);
        var (added, waitingKinds, unfit) = HostsForPending(live, pending);
        foreach (var (kind, (hosts, jobs, replicas)) in added)
        {
            var gangs = replicas > jobs ? $" ({replicas} replicas)" : "";
            advice[kind] = new ScalingAdvice(kind, hosts, $"{jobs} pending jobs{gangs} do not fit on the free capacity");
        }

        if (unfit > 0)
        {
            // Nothing to add helps them: no host kind here can take them even empty.
            advice[""] = new ScalingAdvice("", 0, $"{unfit} pending jobs fit no host shape in the cluster");
        }

        var observed = _history.Count > 0 ? now - _history.Peek().At : TimeSpan.Zero;
        if (observed >= _options.Window)
        {
            foreach (var group in live.GroupBy(KindOf))
            {
                if (advice.ContainsKey(group.Key) || waitingKinds.Contains(group.Key))
                {
                    continue;
                }

                var (removable, needed) = RemovableHosts(group.Key, [.. group]);
                if (removable > 0)
                {
                    advice[group.Key] = new ScalingAdvice(group.Key, -removable,
                        $"peak use over the last {_options.Window.TotalMinutes:0.#} min needs {needed} of {group.Count()} hosts ({_options.SpareHosts} kept spare)");
                }
            }
        }

        return [.. advice.Values.Where(a => a.Delta != 0 || a.Model.Length == 0)];
    }

    /// <summary>New hosts per kind (and the jobs and replicas they take) for what waits, the kinds jobs wait for, and how many jobs no host shape fits.</summary>
    private (Dictionary<string, (int Hosts, int Jobs, int Replicas)> Added, HashSet<string> WaitingKinds, int Unfit) HostsForPending(List<NodeState> live, IReadOnlyCollection<PendingDemand> pending)
    {
        var scratch = live.Where(n => n.Schedulable).Select(Copy).ToList();
        var byId = scratch.ToDictionary(n => n.Id, StringComparer.Ordinal);
        var templates = live.GroupBy(KindOf).Select(g => g.OrderBy(n => n.Id, StringComparer.Ordinal).First()).ToList();
        var added = new Dictionary<string, (int Hosts, int Jobs, int Replicas)>(StringComparer.Ordinal);
        var waitingKinds = new HashSet<string>(StringComparer.Ordinal);
        var unfit = 0;
        var newHosts = new List<NodeState>();
        // Bounded in replicas, so a huge backlog costs the loop a fixed amount per interval (the advice then
        // counts what the first MaxPendingConsidered replicas need: a lower bound); a gang is never cut.
        var considered = 0;
        var first = pending.TakeWhile(p => (considered += Math.Max(1, p.Replicas)) <= MaxPendingConsidered || considered == Math.Max(1, p.Replicas)).ToList();

        // Largest replica first: the usual first-fit-decreasing bound on the number of new hosts.
        foreach (var job in first.OrderByDescending(p => p.Demand.Resources.TotalGpuMilli).ThenByDescending(p => p.Demand.Resources.CpuMillis).ThenBy(p => p.Demand.JobId, StringComparer.Ordinal))
        {
            var replicas = Math.Max(1, job.Replicas);
            if (Pack(job.Demand, replicas) is not { } onNew)
            {
                unfit++;
                continue;
            }

            foreach (var kind in onNew.Keys)
            {
                waitingKinds.Add(kind);
                var (hosts, jobs, count) = added.GetValueOrDefault(kind);
                added[kind] = (hosts + onNew[kind].Hosts, jobs + 1, count + onNew[kind].Replicas);
            }
        }

        return (added, waitingKinds, unfit);

        // All the job's replicas, each on free capacity, else on a host added earlier, else on a new host
        // shaped like the first of a kind that takes it; what went onto new hosts, by kind. Null (nothing
        // kept) when a replica fits no host shape: then adding hosts helps none of the gang.
        Dictionary<string, (int Hosts, int Replicas)>? Pack(JobDemand demand, int replicas)
        {
            var taken = new List<(NodeState Node, string Id)>();
            var hostsBefore = newHosts.Count;
            var onNew = new Dictionary<string, (int Hosts, int Replicas)>(StringComparer.Ordinal);
            for (var r = 0; r < replicas; r++)
            {
                var replica = replicas == 1 ? demand : demand with { JobId = $"{demand.JobId}/{r}" };
                if (_packing.FindAllocation(replica, scratch) is { } fits)
                {
                    Take(byId[fits.NodeId], fits, newHost: false);
                    continue;
                }

                if (_packing.FindAllocation(replica, newHosts) is { } onAdded)
                {
                    Take(newHosts.Single(n => n.Id == onAdded.NodeId), onAdded, newHost: false, added: true);
                    continue;
                }

                var template = templates.FirstOrDefault(t => _packing.FindAllocation(replica, [Copy(t, t.Id)]) is not null);
                if (template is null)
                {
                    foreach (var (node, id) in taken)
                    {
                        node.Release(id);
                    }

                    newHosts.RemoveRange(hostsBefore, newHosts.Count - hostsBefore);
                    return null;
                }

                var created = Copy(template, $"new-{newHosts.Count}");
                newHosts.Add(created);
                Take(created, _packing.FindAllocation(replica, [created])!, newHost: true, added: true);
            }

            return onNew;

            void Take(NodeState node, Allocation allocation, bool newHost, bool added = false)
            {
                node.Allocate(allocation);
                taken.Add((node, allocation.JobId));
                if (added)
                {
                    var kind = KindOf(node);
                    var (hosts, count) = onNew.GetValueOrDefault(kind);
                    onNew[kind] = (hosts + (newHost ? 1 : 0), count + 1);
                }
            }
        }
    }

    /// <summary>Hosts of <paramref name="kind"/> not needed at the window's peak (spares kept), capped by those idle now.</summary>
    private (int Removable, int Needed) RemovableHosts(string kind, List<NodeState> hosts)
    {
        var peak = new Use(0, 0, 0);
        foreach (var observation in _history)
        {
            var use = observation.Use.GetValueOrDefault(kind);
            peak = new Use(Math.Max(peak.GpuMilli, use.GpuMilli), Math.Max(peak.CpuMillis, use.CpuMillis), Math.Max(peak.MemoryMib, use.MemoryMib));
        }

        var shape = hosts.OrderBy(n => n.Id, StringComparer.Ordinal).First();
        var needed = Math.Max(
            Needed(peak.GpuMilli, shape.GpuCapacityMilli),
            Math.Max(Needed(peak.CpuMillis, shape.CpuCapacity), Needed(peak.MemoryMib, shape.MemoryCapacity)));
        var surplus = hosts.Count - needed - _options.SpareHosts;
        var idle = hosts.Count(n => n.Allocations.Count == 0);
        return (Math.Max(0, Math.Min(surplus, idle)), needed);
    }

    private static int Needed(long used, long perHost) => perHost <= 0 ? 0 : (int)((used + perHost - 1) / perHost);

    private static NodeState Copy(NodeState node) => Copy(node, node.Id, withAllocations: true);

    private static NodeState Copy(NodeState node, string id, bool withAllocations = false)
    {
        var copy = new NodeState(id, node.CpuCapacity, node.MemoryCapacity, node.Gpus, node.Labels);
        if (withAllocations)
        {
            foreach (var allocation in node.Allocations.Values)
            {
                copy.Allocate(allocation);
            }
        }

        return copy;
    }

    private readonly record struct Use(long GpuMilli, long CpuMillis, long MemoryMib);

    private sealed record Observation(DateTimeOffset At, Dictionary<string, Use> Use);
}
