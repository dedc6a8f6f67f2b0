using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Checkpoints;

/// <summary>One checkpoint of a running agent, numbered per attempt.</summary>
internal sealed record CheckpointRequest(AgentKey Agent, int Pid, string Directory, long Sequence, CheckpointMode Mode, TimeSpan Timeout);
