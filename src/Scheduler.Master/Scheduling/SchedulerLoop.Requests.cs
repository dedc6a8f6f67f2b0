using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;
using Scheduler.Master.Telemetry;

namespace Scheduler.Master.Scheduling;

/// <summary>Requests from users and operators.</summary>
internal sealed partial class SchedulerLoop
{
    /// <summary>A submit handled on its own (not through a batch): staged and stored at once.</summary>
    private Task SubmitAsync(SubmitJob submit, CancellationToken ct)
    {
        StageSubmit(submit);
        return CommitSubmitsAsync(ct);
    }

    /// <summary>A batch handled on its own (not through a batch of the inbox): staged and stored at once.</summary>
    private Task SubmitBatchAsync(SubmitJobBatch batch, CancellationToken ct)
    {
        StageSubmitBatch(batch);
        return CommitSubmitsAsync(ct);
    }

    /// <summary>
    /// A cancel is decided on the job's stored state (a change of it waiting in the group is stored
    /// first) and joins the batch's group write: many cancels cost one write, and each is answered,
    /// and its agent stopped, only once that write is durable.
    /// </summary>
    private async Task CancelAsync(CancelJob cancel, CancellationToken ct)
    {
        await CommitIfStagedAsync(cancel.JobId, ct);
        if (!_jobs.TryGetValue(cancel.JobId, out var job))
        {
            cancel.Reply.TrySetException(NotFound("job", cancel.JobId));
            return;
        }

        if (job.State == JobState.Cancelled)
        {
            // Already what was asked: a retried cancel whose first answer was lost must still succeed.
            cancel.Reply.TrySetResult(ProtoMapping.ToProto(job));
            return;
        }

        if (job.IsTerminal)
        {
            cancel.Reply.TrySetException(new RpcException(new Status(StatusCode.FailedPrecondition,
                $"job {job.Id} already finished ({job.State.ToString().ToUpperInvariant()}): there is nothing to cancel")));
            return;
        }

        var now = _time.GetUtcNow();
        if (JobTransitions.Cancel(job, now) is not { } cancelled)
        {
            cancel.Reply.TrySetException(new RpcException(new Status(StatusCode.FailedPrecondition,
                $"job {job.Id} cannot be cancelled while {JobTransitions.PhaseOf(job).ToString().ToUpperInvariant()}")));
            return;
        }

        StageAgentChange(cancelled, () => Cancelled(cancel, cancelled), error => cancel.Reply.TrySetException(error));
    }

    private void Cancelled(CancelJob cancel, JobRecord cancelled)
    {
        if (cancelled.IsGang)
        {
            StopHeldReplicas(cancelled, "cancelled by user");
        }
        else if (cancelled.HoldsAllocation && _nodes.TryGetValue(cancelled.NodeId!, out var entry))
        {
            // The allocation stays until the worker reports the agent gone, so nothing new is
            // squeezed onto a GPU the stopping agent still uses.
            _commands.Stop(entry, cancelled.Id, cancelled.Attempt, "cancelled by user");
        }

        cancel.Reply.TrySetResult(ProtoMapping.ToProto(cancelled));
    }

    private async Task ChangeNodeAsync(ChangeNode change, CancellationToken ct)
    {
        if (!_nodes.TryGetValue(change.NodeId, out var entry))
        {
            change.Reply.TrySetException(NotFound("node", change.NodeId));
            return;
        }

        var (cordoned, draining) = change.Operation switch
        {
            NodeOperation.Cordon => (true, entry.Record.Draining),
            NodeOperation.Uncordon => (false, false),
            _ => (true, true),
        };
        var record = entry.Record with { Cordoned = cordoned, Draining = draining };
        await _store.SaveNodeAsync(record, ct);
        entry.Record = record;
        entry.State.Cordoned = cordoned;
        entry.State.Draining = draining;
        _published.NodeChanged(entry.Id);
        _needsPass = true;
        LogNodeChanged(entry.Id, change.Operation.ToString(), change.Reason);

        if (change.Operation == NodeOperation.Drain)
        {
            var now = _time.GetUtcNow();
            var moving = new List<JobRecord>();
            // A gang with a replica here is requeued whole: its members are not migrated live.
            foreach (var job in _jobsByNode.On(entry.Id, _jobs, _ => true))
            {
                if (job.Migration is not null)
                {
                    continue;
                }

                if (job.Spec.Checkpointable && job.State == JobState.Running && await TryMigrateAwayAsync(job, ct))
                {
                    continue;
                }

                if (JobTransitions.Move(job, "draining: stopping to move elsewhere", now) is { } move)
                {
                    moving.Add(move);
                }
            }

            await ApplyAsync(moving, ct);
            _commands.Send(entry, new MasterCommand { Drain = new Drain { Reason = change.Reason } });
            foreach (var job in moving)
            {
                // Requeued only once the worker confirms the exit, so the job never runs in two places.
                if (job.IsGang)
                {
                    StopHeldReplicas(job, $"node {entry.Id} drained");
                    continue;
                }

                _commands.Stop(entry, job.Id, job.Attempt, "node drained");
            }
        }

        change.Reply.TrySetResult(ProtoMapping.ToProto(entry));
    }

    /// <summary>Drain: a checkpointable agent moves live with its state; false when it cannot (no target fits, no capability), so it is restarted instead.</summary>
    private async Task<bool> TryMigrateAwayAsync(JobRecord job, CancellationToken ct)
    {
        try
        {
            await BeginMigrationAsync(job, "", ct);
            return true;
        }
        catch (Grpc.Core.RpcException ex) when (ex.StatusCode is Grpc.Core.StatusCode.FailedPrecondition or Grpc.Core.StatusCode.ResourceExhausted)
        {
            LogDrainRestarts(job.Id, ex.Status.Detail);
            return false;
        }
    }

    private Task FetchLogs(FetchJobLogs fetch)
    {
        var request = fetch.Request;
        if (!_jobs.TryGetValue(request.JobId, out var job))
        {
            fetch.Reply.TrySetException(NotFound("job", request.JobId));
            return Task.CompletedTask;
        }

        if (job.NodeId is null || job.Attempt == 0)
        {
            fetch.Reply.TrySetException(new RpcException(new Status(StatusCode.FailedPrecondition,
                $"job {job.Id} has not run yet: it has no logs")));
            return Task.CompletedTask;
        }

        if (request.Attempt > job.Attempt)
        {
            fetch.Reply.TrySetException(new RpcException(new Status(StatusCode.InvalidArgument,
                $"attempt must be between 1 and {job.Attempt} for job {job.Id} (got {request.Attempt})")));
            return Task.CompletedTask;
        }

        var attempt = request.Attempt == 0 ? job.Attempt : request.Attempt;
        if (job.NodeOf(attempt) is not { } nodeId)
        {
            fetch.Reply.TrySetException(new RpcException(new Status(StatusCode.NotFound,
                $"where attempt {attempt} of job {job.Id} ran was not recorded")));
            return Task.CompletedTask;
        }

        if (!_nodes.TryGetValue(nodeId, out var entry) || entry.Session is null)
        {
            fetch.Reply.TrySetException(new RpcException(new Status(StatusCode.Unavailable,
                $"node {nodeId}, where attempt {attempt} of job {job.Id} ran, is not connected")));
            return Task.CompletedTask;
        }

        var requestId = _logRequests.Add(entry.Id, attempt, fetch.Reply, _time.GetUtcNow().AddMilliseconds(_options.LogsTimeoutMs));
        _commands.Send(entry, new MasterCommand
        {
            FetchLogs = new FetchLogs
            {
                RequestId = requestId,
                // A gang's output is its rank 0's.
                JobId = job.IsGang ? GangMembers.AgentId(job.Id, 0) : job.Id,
                Attempt = attempt,
                Stream = request.Stream,
                TailBytes = request.TailBytes,
            },
        });
        return Task.CompletedTask;
    }

    private static RpcException NotFound(string what, string id) =>
        new(new Status(StatusCode.NotFound, $"{what} '{id}' not found"));
}
