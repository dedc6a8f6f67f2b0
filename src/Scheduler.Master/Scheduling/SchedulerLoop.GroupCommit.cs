using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;
using Scheduler.Master.Telemetry;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Group commit of submissions: the submits of one batch are decided as they come, stored together
/// in one transaction before the next event that could read them (or at the batch's end), and only
/// then remembered and answered. A failed write answers every caller of the group and changes no memory.
/// </summary>
internal sealed partial class SchedulerLoop
{
    private readonly StagedSubmits _staged = new();
    private readonly StagedAgentWrites _stagedAgents = new();
    private readonly StagedRegistrations _stagedRegistrations = new();
    private bool _committingGroup;

    /// <summary>Decides a submit: answered at once when its request id is already stored, otherwise staged.</summary>
    private void StageSubmit(SubmitJob submit)
    {
        var request = submit.Request;
        if (_jobByRequestId.TryGetValue(request.RequestId, out var existingId))
        {
            AnswerRepeat(submit, _jobs[existingId]);
            return;
        }

        if (_staged.Find(request.RequestId) is { } first)
        {
            _staged.Follow(submit, first);
            return;
        }

        var now = _time.GetUtcNow();
        var sequence = _ids.Peek + _staged.Records.Count;
        var job = new JobRecord
        {
            Id = JobIds.Of(sequence),
            Sequence = sequence,
            RequestId = request.RequestId,
            Spec = request.Spec,
            State = JobState.Pending,
            PendingReason = "waiting for the next scheduling pass",
            Message = "submitted",
            CreatedAt = now,
            UpdatedAt = now,
        };
        var span = MasterTracing.Source.StartActivity("scheduler.enqueue", System.Diagnostics.ActivityKind.Internal, submit.Trace);
        span?.SetTag(MasterTracing.JobId, job.Id);
        _staged.Add(submit, job, span);
    }

    /// <summary>
    /// Decides a batch of submits: refused whole (nothing staged) when an item's request id names a job
    /// with a different spec; otherwise every item is staged in this group, so all are stored in one
    /// write or none, and the batch is answered once every item is.
    /// </summary>
    private void StageSubmitBatch(SubmitJobBatch batch)
    {
        var items = batch.Request.Items;
        var specs = new Dictionary<string, JobSpec>(StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            var earlier = _jobByRequestId.TryGetValue(item.RequestId, out var existingId)
                ? Validation.JobSpecDefaults.Apply(_jobs[existingId].Spec)
                : _staged.Find(item.RequestId)?.Spec ?? specs.GetValueOrDefault(item.RequestId);
            if (earlier is not null && !earlier.Equals(item.Spec))
            {
                batch.Reply.TrySetException(new RpcException(new Status(StatusCode.AlreadyExists,
                    $"items[{i}].request_id '{item.RequestId}' was already used with a different spec; nothing of this batch was stored")));
                return;
            }

            specs[item.RequestId] = item.Spec;
        }

        var replies = new Task<SubmitJobResponse>[items.Count];
        for (var i = 0; i < items.Count; i++)
        {
            var reply = new TaskCompletionSource<SubmitJobResponse>(TaskCreationOptions.RunContinuationsAsynchronously);
            replies[i] = reply.Task;
            StageSubmit(new SubmitJob(items[i], reply) { Trace = batch.Trace });
        }

        // Every item shares the group's fate: stored and answered together, or failed with one error.
        Task.WhenAll(replies).ContinueWith(
            all =>
            {
                if (all.Exception?.InnerException is { } error)
                {
                    batch.Reply.TrySetException(error);
                    return;
                }

                var response = new SubmitJobBatchResponse();
                response.Items.Add(all.Result);
                batch.Reply.TrySetResult(response);
            },
            CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    /// <summary>Whether submits, agents' changes or registrations wait for the group's write.</summary>
    private bool GroupWaiting => _staged.Count > 0 || _stagedAgents.Count > 0 || _stagedRegistrations.Count > 0;

    /// <summary>
    /// Stages a change an agent reported, stored with the group; <paramref name="onStored"/> (what is
    /// sent because of it) runs only once the write is durable. The caller checked with
    /// <see cref="CommitIfStagedAsync"/> that the job had no change waiting.
    /// </summary>
    private void StageAgentChange(JobRecord record, Action? onStored = null, Action<RpcException>? onFailed = null) =>
        _stagedAgents.Add(record, onStored, onFailed);

    /// <summary>Stores the group first when <paramref name="jobId"/> already has a change in it, so the next is decided on stored state.</summary>
    private Task CommitIfStagedAsync(string jobId, CancellationToken ct) =>
        _stagedAgents.Holds(jobId) ? CommitSubmitsAsync(ct) : Task.CompletedTask;

    /// <summary>
    /// Stores the staged submits and agents' changes in one write, then makes them current, answers the
    /// submitters and sends what waited on the agents' changes. A failed write answers every submitter
    /// with an error and acts on none of the changes (their workers report them again).
    /// </summary>
    private async Task CommitSubmitsAsync(CancellationToken ct)
    {
        if (!GroupWaiting)
        {
            return;
        }

        _committingGroup = true;
        var registrations = _stagedRegistrations.Take();
        try
        {
            IReadOnlyCollection<JobRecord> records = _stagedAgents.Count == 0 ? _staged.Records : [.. _staged.Records, .. _stagedAgents.Records];
            var nodes = registrations.Where(r => r.Write).Select(r => r.Record).ToList();
            if (records.Count > 0 || nodes.Count > 0)
            {
                await ApplyAsync(records, ct, nodes);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Nothing of the group is current; its numbers stay free for the next submits.
            if (EndsTerm(ex))
            {
                _term.End(ex.Message);
            }

            if (_staged.Count > 0)
            {
                LogSubmitGroupFailed(_staged.Records.Count, ex);
            }

            if (_stagedAgents.Count > 0)
            {
                LogAgentGroupFailed(_stagedAgents.Count, ex);
            }

            if (registrations.Count > 0)
            {
                LogRegistrationGroupFailed(registrations.Count, ex);
            }

            var error = EndsTerm(ex) ? NoLongerLeading() : ToStatus(ex);
            FailStaged(error);
            _stagedAgents.Fail(error);
            foreach (var (connected, _, _) in registrations)
            {
                // Not accepted, nothing of it current: the stream ends at once, so its worker registers again
                // after its backoff instead of waiting out its handshake's timeout.
                connected.Session.Close();
            }

            return;
        }
        finally
        {
            _committingGroup = false;
        }

        foreach (var entry in _staged.Entries)
        {
            if (!entry.Created)
            {
                AnswerRepeat(entry.Submit, entry.Job);
                continue;
            }

            entry.Span?.Dispose();
            var job = entry.Job;
            _traces.Submitted(job.Id, entry.Submit.Trace);
            _ids.Used();
            _jobByRequestId[job.RequestId] = job.Id;
            _metrics.Submitted();
            LogSubmitted(job.Id, job.RequestId, job.Priority);
            entry.Submit.Reply.TrySetResult(new SubmitJobResponse { Job = ProtoMapping.ToProto(_jobs[job.Id]), Created = true });
        }

        _staged.Clear();
        _stagedAgents.Stored();
        await AcceptRegistrationsAsync(registrations, ct);
    }

    /// <summary>
    /// Accepts the registrations whose group write is durable, in the order they came. One that fails
    /// later (a store write of its reconciliation) fails alone, as its own event would have.
    /// </summary>
    private async Task AcceptRegistrationsAsync(List<(WorkerConnected Connected, NodeRecord Record, bool Write)> registrations, CancellationToken ct)
    {
        foreach (var (connected, record, _) in registrations)
        {
            if (_term.Ended.IsCancellationRequested)
            {
                connected.Session.Close();
                continue;
            }

            try
            {
                await AcceptRegistrationAsync(connected, record, ct);
            }
            catch (Exception ex) when (EndsTerm(ex))
            {
                _term.End(ex.Message);
                connected.Session.Close();
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogEventFailed(nameof(WorkerConnected), ex);
                connected.Session.Close();
            }
        }
    }

    /// <summary>Answers every staged submit with <paramref name="error"/> and forgets them: none is stored or current.</summary>
    private void FailStaged(RpcException error)
    {
        foreach (var entry in _staged.Entries)
        {
            entry.Span?.Dispose();
            entry.Submit.Reply.TrySetException(error);
        }

        _staged.Clear();
    }

    /// <summary>A submit whose request id names a stored job: the same job, or ALREADY_EXISTS when the spec differs.</summary>
    private static void AnswerRepeat(SubmitJob submit, JobRecord existing)
    {
        // Records stored before defaults were filled in compare as they would be stored now.
        if (!Validation.JobSpecDefaults.Apply(existing.Spec).Equals(submit.Request.Spec))
        {
            submit.Reply.TrySetException(new RpcException(new Status(StatusCode.AlreadyExists,
                $"request_id '{submit.Request.RequestId}' was already used for job {existing.Id} with a different spec")));
            return;
        }

        submit.Reply.TrySetResult(new SubmitJobResponse { Job = ProtoMapping.ToProto(existing), Created = false });
    }

    /// <summary>A write refused for leadership, or one the store kept only part of: either way the next term must reload.</summary>
    /// <summary>
    /// Failures after which this term cannot know what the store holds: leadership lost, a write split in
    /// parts that stopped after an earlier part committed, or a write the store may have applied although
    /// it did not answer. The term ends; the next one reloads, and retried calls are answered from what
    /// was stored (a submit by its request id), never stored a second time.
    /// </summary>
    private static bool EndsTerm(Exception ex) =>
        ex is LeadershipLostException or PartialWriteException or StoreUnavailableException { MayHaveApplied: true };
}
