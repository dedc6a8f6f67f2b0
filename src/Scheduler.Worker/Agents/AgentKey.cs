namespace Scheduler.Worker.Agents;

/// <summary>An agent is one attempt of one job: commands for another attempt never touch it.</summary>
internal readonly record struct AgentKey(string JobId, int Attempt)
{
    public override string ToString() => $"{JobId}#{Attempt}";
}
