using Scheduler.Contracts.V1;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Scheduling;

/// <summary>Everything that changes cluster state reaches the scheduling loop as one of these.</summary>
internal interface IMasterEvent;

internal sealed record SubmitJob(SubmitJobRequest Request, TaskCompletionSource<SubmitJobResponse> Reply) : IMasterEvent
{
    /// <summary>The Submit span's context: the job's trace continues from it in the loop. Default when untraced.</summary>
    public System.Diagnostics.ActivityContext Trace { get; init; }
}

/// <summary>Several submits answered together: staged in one group (one store write), all of them or none.</summary>
internal sealed record SubmitJobBatch(SubmitJobBatchRequest Request, TaskCompletionSource<SubmitJobBatchResponse> Reply) : IMasterEvent
{
    /// <summary>The SubmitBatch span's context: every job's trace continues from it. Default when untraced.</summary>
    public System.Diagnostics.ActivityContext Trace { get; init; }
}

internal sealed record CancelJob(string JobId, TaskCompletionSource<Job> Reply) : IMasterEvent;

/// <summary>Admin.MigrateJob: move a running checkpointable job live to another node.</summary>
internal sealed record MigrateJob(string JobId, string TargetNode, TaskCompletionSource<Job> Reply) : IMasterEvent;

/// <summary>Jobs.Suspend and Jobs.Resume.</summary>
internal sealed record SuspendJob(string JobId, TaskCompletionSource<Job> Reply) : IMasterEvent;

internal sealed record ResumeJob(string JobId, TaskCompletionSource<Job> Reply) : IMasterEvent;

/// <summary>Admin.SaveSnapshot: every record as of now.</summary>
internal sealed record TakeSnapshot(TaskCompletionSource<Store.Snapshot> Reply) : IMasterEvent;

/// <summary>Admin.RestoreSnapshot: store a snapshot's records in a fresh cluster.</summary>
internal sealed record RestoreSnapshot(Store.Snapshot Snapshot, TaskCompletionSource<RestoreSnapshotResponse> Reply) : IMasterEvent;

/// <summary>Admin.ExplainJob: why a job waits, or where it went and why there.</summary>
internal sealed record ExplainJob(string JobId, TaskCompletionSource<JobExplanation> Reply) : IMasterEvent;

internal enum NodeOperation
{
    Cordon,
    Uncordon,
    Drain,
}

internal sealed record ChangeNode(string NodeId, NodeOperation Operation, string Reason, TaskCompletionSource<Node> Reply) : IMasterEvent;

internal sealed record FetchJobLogs(GetLogsRequest Request, TaskCompletionSource<GetLogsResponse> Reply) : IMasterEvent;

internal sealed record WatchSubscribe(JobWatcher Watcher) : IMasterEvent;

internal sealed record WatchUnsubscribe(JobWatcher Watcher) : IMasterEvent;

internal sealed record WorkerConnected(WorkerSession Session, RegisterWorker Registration) : IMasterEvent;

internal sealed record WorkerMessageReceived(WorkerSession Session, WorkerMessage Message) : IMasterEvent;

internal sealed record WorkerDisconnected(WorkerSession Session) : IMasterEvent;

internal sealed record Tick : IMasterEvent
{
    public static readonly Tick Instance = new();
}

/// <summary>The host serves requests now (workers can reach this master): restart the silence clocks of the nodes it loaded.</summary>
internal sealed record ServingStarted : IMasterEvent
{
    public static readonly ServingStarted Instance = new();
}
