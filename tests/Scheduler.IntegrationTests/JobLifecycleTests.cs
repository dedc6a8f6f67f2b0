using System.Text;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>One real master and one real worker process; agents are real processes.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class JobLifecycleTests
{
    private TestCluster _cluster = null!;
    private ClusterApi _api = null!;

    [OneTimeSetUp]
    public async Task StartCluster()
    {
        _cluster = await TestCluster.StartAsync("lifecycle");
        _cluster.StartWorker("w1", gpus: 2);
        _api = new ClusterApi(_cluster.MasterUrl);
        await _api.WaitForReadyNodesAsync("w1");
    }

    [OneTimeTearDown]
    public async Task StopCluster()
    {
        _api?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    [Test]
    public async Task Submitted_agent_runs_and_the_job_succeeds_with_exit_code_zero()
    {
        var job = await _api.SubmitAsync(ClusterApi.Shell("echo hello from $SCHEDULER_JOB_ID"));

        var done = await _api.WaitForJobAsync(job.Id, j => j.State is JobState.Succeeded or JobState.Failed, "finished");

        Assert.That(done.State, Is.EqualTo(JobState.Succeeded), done.Message);
        Assert.That(done.ExitCode, Is.Zero);
        Assert.That(done.NodeId, Is.EqualTo("w1"));
        Assert.That(done.Attempt, Is.EqualTo(1));
        var logs = await _api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id }, deadline: ClusterApi.Deadline());
        Assert.That(logs.Data.ToStringUtf8(), Does.Contain($"hello from {job.Id}"));
    }

    [Test]
    public async Task Failing_agent_marks_the_job_failed_with_its_exit_code()
    {
        var job = await _api.SubmitAsync(ClusterApi.Shell("echo oops >&2; exit 3"));

        var done = await _api.WaitForJobAsync(job.Id, j => j.State is JobState.Succeeded or JobState.Failed, "finished");

        Assert.That(done.State, Is.EqualTo(JobState.Failed));
        Assert.That(done.ExitCode, Is.EqualTo(3));
        var stderr = await _api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id, Stream = LogStream.Stderr }, deadline: ClusterApi.Deadline());
        Assert.That(stderr.Data.ToStringUtf8(), Does.Contain("oops"));
    }

    [Test]
    public async Task Agent_gets_its_assigned_gpus_in_CUDA_VISIBLE_DEVICES()
    {
        var job = await _api.SubmitAsync(ClusterApi.Shell("echo \"gpus=$CUDA_VISIBLE_DEVICES\"", gpuMilli: 500));

        var done = await _api.WaitForStateAsync(job.Id, JobState.Succeeded);

        Assert.That(done.GpuUuids, Has.Count.EqualTo(1));
        var node = await _api.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline());
        Assert.That(node.Gpus.Select(g => g.Info.Uuid), Does.Contain(done.GpuUuids[0]));
        var logs = await _api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = job.Id }, deadline: ClusterApi.Deadline());
        Assert.That(logs.Data.ToStringUtf8(), Does.Contain($"gpus={done.GpuUuids[0]}"));
    }

    [Test]
    public async Task Command_that_cannot_start_fails_the_job_with_a_message()
    {
        var spec = ClusterApi.Shell("");
        spec.Command = "/nonexistent/agent-binary";
        spec.Args.Clear();
        var job = await _api.SubmitAsync(spec);

        var done = await _api.WaitForStateAsync(job.Id, JobState.Failed);

        Assert.That(done.Message, Does.Contain("failed to start"));
    }

    [Test]
    public async Task Cancel_stops_the_running_agent_process()
    {
        var pidFile = Path.Combine(_cluster.Root, $"cancel-{Guid.NewGuid():N}.pid");
        var job = await _api.SubmitAsync(ClusterApi.Shell($"echo $$ > {pidFile}; exec sleep 120"));
        await _api.WaitForStateAsync(job.Id, JobState.Running);
        var pid = int.Parse(await Eventually.ReturnsAsync(
            () => Task.FromResult(File.Exists(pidFile) && File.ReadAllText(pidFile).Trim() is { Length: > 0 } s ? s : null),
            "the agent to write its pid"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.That(Posix.IsAlive(pid), Is.True, "agent should be running before cancel");

        var cancelled = await _api.Jobs.CancelAsync(new CancelJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());

        Assert.That(cancelled.State, Is.EqualTo(JobState.Cancelled));
        await Eventually.TrueAsync(() => !Posix.IsAlive(pid), $"agent pid {pid} to exit after cancel");
        var after = await _api.WaitForJobAsync(job.Id, j => j.HasExitCode, "its exit recorded");
        Assert.That(after.State, Is.EqualTo(JobState.Cancelled));
    }

    [Test]
    public async Task A_job_submitted_without_priority_or_max_retries_is_stored_and_returned_with_the_defaults()
    {
        var submitted = await _api.SubmitAsync(ClusterApi.Shell("exit 0", priority: 0));

        var got = await _api.Jobs.GetAsync(new GetJobRequest { Id = submitted.Id }, deadline: ClusterApi.Deadline());
        var listed = (await _api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline())).Jobs.Single(j => j.Id == submitted.Id);

        Assert.That(new[] { submitted, got, listed }.Select(j => (j.Spec.Priority, j.Spec.HasMaxRetries, j.Spec.MaxRetries)), Has.All.EqualTo((100, true, 3)));
    }

    [Test]
    public async Task Cancelling_a_finished_job_fails_with_FailedPrecondition_naming_its_state()
    {
        var job = await _api.SubmitAsync(ClusterApi.Shell("exit 0"));
        await _api.WaitForStateAsync(job.Id, JobState.Succeeded);

        var ex = await RpcAssert.FailsWith(Grpc.Core.StatusCode.FailedPrecondition,
            () => _api.Jobs.CancelAsync(new CancelJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.Contain(job.Id).And.Contain("SUCCEEDED"));
    }

    [Test]
    public async Task Cancelling_a_cancelled_job_again_returns_it_unchanged_so_a_retried_cancel_succeeds()
    {
        var job = await _api.SubmitAsync(ClusterApi.Shell("exit 0", gpus: 8));
        var first = await _api.Jobs.CancelAsync(new CancelJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());

        var again = await _api.Jobs.CancelAsync(new CancelJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());

        Assert.That(again, Is.EqualTo(first));
    }

    [Test]
    public async Task Retried_submit_with_the_same_request_id_creates_one_job()
    {
        var requestId = Guid.NewGuid().ToString("N");
        var spec = ClusterApi.Shell("exit 0");

        var first = await _api.Jobs.SubmitAsync(new SubmitJobRequest { Spec = spec, RequestId = requestId }, deadline: ClusterApi.Deadline());
        var second = await _api.Jobs.SubmitAsync(new SubmitJobRequest { Spec = spec, RequestId = requestId }, deadline: ClusterApi.Deadline());

        Assert.That(first.Created, Is.True);
        Assert.That(second.Created, Is.False);
        Assert.That(second.Job.Id, Is.EqualTo(first.Job.Id));
        var all = await _api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        Assert.That(all.Jobs.Count(j => j.RequestId == requestId), Is.EqualTo(1));
    }

    [Test]
    public async Task Job_larger_than_every_node_stays_pending_saying_it_fits_no_nodes_total_capacity()
    {
        var job = await _api.SubmitAsync(ClusterApi.Shell("exit 0", gpus: 16));

        var pending = await _api.WaitForJobAsync(job.Id, j => j.PendingReason.StartsWith("fits no node's total capacity", StringComparison.Ordinal), "pending with a reason");

        Assert.That(pending.State, Is.EqualTo(JobState.Pending));
        Assert.That(pending.PendingReason, Does.Contain("1 node: too few GPUs in total"));
        await _api.Jobs.CancelAsync(new CancelJobRequest { Id = job.Id }, deadline: ClusterApi.Deadline());
    }

    [Test]
    public async Task Watch_streams_a_job_from_pending_to_succeeded()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var job = await _api.SubmitAsync(ClusterApi.Shell("sleep 0.3"));
        using var call = _api.Jobs.Watch(new WatchJobsRequest { JobId = job.Id }, cancellationToken: cts.Token);
        var seen = new List<JobState>();

        while (await call.ResponseStream.MoveNext(cts.Token))
        {
            if (call.ResponseStream.Current.Job is null)
            {
                continue;
            }

            seen.Add(call.ResponseStream.Current.Job.State);
            if (call.ResponseStream.Current.Job.State == JobState.Succeeded)
            {
                break;
            }
        }

        Assert.That(seen.Last(), Is.EqualTo(JobState.Succeeded));
        Assert.That(seen, Is.Ordered.Using((IComparer<JobState>)Comparer<JobState>.Create((a, b) => Rank(a).CompareTo(Rank(b)))));

        static int Rank(JobState s) => s switch
        {
            JobState.Pending => 0,
            JobState.Assigned => 1,
            JobState.Running => 2,
            _ => 3,
        };
    }

    [Test]
    public async Task Health_service_reports_serving()
    {
        var health = new Grpc.Health.V1.Health.HealthClient(_api.Channel);

        var reply = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest(), deadline: ClusterApi.Deadline());

        Assert.That(reply.Status, Is.EqualTo(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving));
    }

    [Test]
    public async Task Cordoned_node_gets_no_new_jobs_until_uncordoned()
    {
        await _api.Admin.CordonNodeAsync(new CordonNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline());
        try
        {
            var job = await _api.SubmitAsync(ClusterApi.Shell("exit 0"));
            var pending = await _api.WaitForJobAsync(job.Id, j => j.PendingReason.Contains("cordoned", StringComparison.Ordinal), "pending on a cordon");
            Assert.That(pending.State, Is.EqualTo(JobState.Pending));

            await _api.Admin.UncordonNodeAsync(new UncordonNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline());

            await _api.WaitForStateAsync(job.Id, JobState.Succeeded);
        }
        finally
        {
            await _api.Admin.UncordonNodeAsync(new UncordonNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline());
        }
    }
}
