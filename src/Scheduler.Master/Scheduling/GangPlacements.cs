using Scheduler.Core.Cluster;
using Scheduler.Core.Queueing;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>What one scheduling pass decided for the replicas of each waiting gang: their allocations (all or none) and why not.</summary>
internal sealed class GangPlacements
{
    private readonly Dictionary<string, Gang> _gangs = new(StringComparer.Ordinal);

    public IEnumerable<Gang> All => _gangs.Values;

    public void Add(JobRecord job, SchedulingDecision decision)
    {
        if (!_gangs.TryGetValue(job.Id, out var gang))
        {
            gang = new Gang(job);
            _gangs[job.Id] = gang;
        }

        if (decision.Allocation is { } allocation && GangMembers.TryParse(decision.Job.JobId, out _, out var rank))
        {
            gang.Allocations.Add((rank, allocation));
        }
        else
        {
            gang.Reason ??= decision.Reason;
        }
    }

    /// <summary>One gang's share of the pass.</summary>
    internal sealed class Gang(JobRecord job)
    {
        public JobRecord Job { get; } = job;

        public List<(int Rank, Allocation Allocation)> Allocations { get; } = [];

        public string? Reason { get; set; }
    }
}
