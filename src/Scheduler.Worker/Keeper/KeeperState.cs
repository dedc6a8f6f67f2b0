using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Keeper;

/// <summary>
/// What the keeper holds: the agents of each lease group and the group's deadline. Pure, so the
/// rules are tested without processes: a group past its deadline is fenced (all its agents handed
/// out to be killed, once); a group with no lease yet never expires; the worker's death fences all.
/// </summary>
internal sealed class KeeperState
{
    private readonly Dictionary<string, long> _deadlines = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TrackedAgent> _agents = new(StringComparer.Ordinal);

    public int Count => _agents.Count;

    public void Apply(KeeperMessage message)
    {
        switch (message.Op)
        {
            case KeeperMessage.Lease:
                _deadlines[message.Group] = message.Deadline;
                break;
            case KeeperMessage.Track:
                _agents[message.Id] = new TrackedAgent(message.Group, message.Id, new AgentTree(message.Pid, message.Token, message.Cgroup), message.Marker);
                break;
            case KeeperMessage.Untrack:
                _agents.Remove(message.Id);
                break;
        }
    }

    /// <summary>Agents whose group's lease ran out by <paramref name="now"/>; they are forgotten as they are handed out.</summary>
    public IReadOnlyList<TrackedAgent> TakeExpired(long now)
    {
        var expired = _agents.Values
            .Where(a => _deadlines.TryGetValue(a.Group, out var deadline) && now >= deadline)
            .ToArray();
        foreach (var agent in expired)
        {
            _agents.Remove(agent.Id);
        }

        return expired;
    }

    /// <summary>Every agent: the worker is gone.</summary>
    public IReadOnlyList<TrackedAgent> TakeAll()
    {
        var all = _agents.Values.ToArray();
        _agents.Clear();
        return all;
    }
}

internal sealed record TrackedAgent(string Group, string Id, AgentTree Tree, string? Marker);
