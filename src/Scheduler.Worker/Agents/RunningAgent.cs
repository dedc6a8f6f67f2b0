namespace Scheduler.Worker.Agents;

/// <summary>A running agent's main process and, when it is checkpointable, its checkpoint folder.</summary>
internal sealed record RunningAgent(AgentKey Key, int Pid, string? CheckpointDirectory);
