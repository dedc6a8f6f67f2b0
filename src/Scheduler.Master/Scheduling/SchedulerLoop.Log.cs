using Scheduler.Contracts.V1;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

internal sealed partial class SchedulerLoop
{
    [LoggerMessage(1, LogLevel.Information, "Leader term {Epoch} loaded {Jobs} jobs and {Nodes} nodes from the {Store} store")]
    private partial void LogLoaded(long epoch, int jobs, int nodes, string store);

    // Per job lines are at debug level: at thousands of jobs a second, formatting and writing them was about
    // a tenth of the loop (dotnet-trace of bench e2e); a job's history is in `schedctl jobs`/`describe`, and
    // a failed attempt still gets an information line.
    [LoggerMessage(2, LogLevel.Debug, "Job {JobId} submitted (request {RequestId}, priority {Priority})")]
    private partial void LogSubmitted(string jobId, string requestId, int priority);

    [LoggerMessage(EventId = 4, Message = "Job {JobId} attempt {Attempt} finished {State} (exit {ExitCode})")]
    private partial void LogFinished(LogLevel level, string jobId, int attempt, JobState state, int exitCode);

    /// <summary>A failed attempt at information level, one that succeeded or was cancelled at debug level.</summary>
    private void LogFinished(JobRecord job) =>
        LogFinished(job.State is JobState.Succeeded or JobState.Cancelled ? LogLevel.Debug : LogLevel.Information, job.Id, job.Attempt, job.State, job.ExitCode ?? -1);

    [LoggerMessage(5, LogLevel.Warning, "Job {JobId} attempt {Attempt} on {NodeId} requeued: {Why}")]
    private partial void LogRequeue(string jobId, int attempt, string nodeId, string why);

    [LoggerMessage(6, LogLevel.Information, "Node {NodeId} registered from {Peer} with {Gpus} GPUs reporting {Agents} agents (epoch {Epoch})")]
    private partial void LogRegistered(string nodeId, string peer, int gpus, int agents, long epoch);

    [LoggerMessage(7, LogLevel.Warning, "Node {NodeId} stream {SessionId} broke; node is suspect")]
    private partial void LogDisconnected(string nodeId, long sessionId);

    [LoggerMessage(8, LogLevel.Warning, "Node {NodeId} suspect: no heartbeat for {SilentMs} ms")]
    private partial void LogNodeSuspect(string nodeId, long silentMs);

    [LoggerMessage(9, LogLevel.Error, "Node {NodeId} dead: silent for {SilentMs} ms; requeueing its jobs")]
    private partial void LogNodeDead(string nodeId, long silentMs);

    [LoggerMessage(10, LogLevel.Information, "Node {NodeId} is ready again")]
    private partial void LogNodeReady(string nodeId);

    [LoggerMessage(11, LogLevel.Information, "Node {NodeId} session {OldSession} replaced by {NewSession}")]
    private partial void LogSessionReplaced(string nodeId, long oldSession, long newSession);

    [LoggerMessage(13, LogLevel.Warning, "Stopping stale agent {JobId} attempt {Attempt} on {NodeId}")]
    private partial void LogStaleAgent(string jobId, int attempt, string nodeId);

    [LoggerMessage(14, LogLevel.Information, "Node {NodeId}: {Operation} {Reason}")]
    private partial void LogNodeChanged(string nodeId, string operation, string reason);

    [LoggerMessage(15, LogLevel.Error, "Handling {Event} failed")]
    private partial void LogEventFailed(string @event, Exception exception);

    [LoggerMessage(152, LogLevel.Error, "Could not store {Count} changes agents reported; nothing of them was acknowledged, their workers report them again")]
    private partial void LogAgentGroupFailed(int count, Exception exception);

    [LoggerMessage(151, LogLevel.Error, "Could not store {Count} submitted jobs; their callers were answered with an error")]
    private partial void LogSubmitGroupFailed(int count, Exception exception);

    [LoggerMessage(16, LogLevel.Error, "Could not persist {Count} placements; they stay pending")]
    private partial void LogPersistFailed(int count, Exception exception);

    [LoggerMessage(17, LogLevel.Warning, "Preempting {JobId} (priority {Priority}) for {Preemptor} (priority {PreemptorPriority}) on {NodeId}")]
    private partial void LogPreempting(string jobId, int priority, string preemptor, int preemptorPriority, string nodeId);

    [LoggerMessage(18, LogLevel.Information, "Node {NodeId} is leaving: {Reason}")]
    private partial void LogNodeLeaving(string nodeId, string reason);

    [LoggerMessage(19, LogLevel.Warning, "Node {NodeId} obeyed epoch {Reported}, newer than this term's {Epoch}: the store lost history; this term moves to epoch {NewEpoch}")]
    private partial void LogEpochAdvanced(string nodeId, long reported, long epoch, long newEpoch);

    [LoggerMessage(22, LogLevel.Warning, "Node {NodeId} rejected a {Command} command: {Reason}")]
    private partial void LogCommandRejected(string nodeId, string command, string reason);

    [LoggerMessage(20, LogLevel.Information, "Stopping: no more dispatch; closing {Sessions} worker streams")]
    private partial void LogStopping(int sessions);

    [LoggerMessage(160, LogLevel.Warning, "Mass silence: {Affected} of {Nodes} nodes silent past {DeadAfterMs} ms or just declared dead; suspecting this master or its network rather than that many machines, declaring them dead at most {PerSecond:F1} a second, longest silent first")]
    private partial void LogMassSilence(int affected, int nodes, long deadAfterMs, double perSecond);

    [LoggerMessage(161, LogLevel.Warning, "Mass silence over: {Declared} nodes were declared dead during it; the others were heard from again")]
    private partial void LogMassSilenceOver(int declared);

    [LoggerMessage(162, LogLevel.Debug, "Node {NodeId} registration on stream {SessionId} skipped: the stream ended before the registration was handled")]
    private partial void LogRegistrationAbandoned(string nodeId, long sessionId);

    [LoggerMessage(195, LogLevel.Error, "Could not store the node records of {Count} registrations; none was accepted, their streams are closed and their workers register again")]
    private partial void LogRegistrationGroupFailed(int count, Exception exception);
}
