using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// With --auth, a submitter's tenant comes from its token: it cannot submit for another tenant, and
/// another tenant's jobs do not exist for it (NOT_FOUND, never PERMISSION_DENIED, so ids leak nothing).
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class TenantIsolationTests
{
    private TestCluster _cluster = null!;
    private AuthApi _api = null!;
    private string _tokenDir = "";
    private string _admin = "";
    private string _teamA = "";
    private string _teamB = "";
    private string _operator = "";
    private Job _jobOfA = null!;

    [OneTimeSetUp]
    public async Task StartMaster()
    {
        _tokenDir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"tenants-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_tokenDir);
        var file = Path.Combine(_tokenDir, "admin.token");
        _cluster = await TestCluster.StartAsync("tenants", null, "--auth", "--bootstrap-token-file", file);
        _api = new AuthApi(_cluster.MasterUrl);
        _admin = AuthApi.ReadToken(file);
        _teamA = await _api.CreateTokenAsync(_admin, "submitter", "team a", "team-a");
        _teamB = await _api.CreateTokenAsync(_admin, "submitter", "team b", "team-b");
        _operator = await _api.CreateTokenAsync(_admin, "operator", "ops");

        // No worker: the job stays pending, which is all these tests need of it.
        _jobOfA = (await _api.Jobs(_teamA).SubmitAsync(new SubmitJobRequest { Spec = ClusterApi.Shell("sleep 60"), RequestId = "a-1" }, deadline: AuthApi.Deadline())).Job;
    }

    [OneTimeTearDown]
    public async Task StopMaster()
    {
        _api?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        if (Directory.Exists(_tokenDir))
        {
            Directory.Delete(_tokenDir, recursive: true);
        }
    }

    [Test]
    public void A_submission_takes_the_tenant_of_its_token()
    {
        Assert.That(_jobOfA.Spec.Tenant, Is.EqualTo("team-a"));
    }

    [Test]
    public async Task A_submitter_cannot_choose_another_tenant()
    {
        var spec = ClusterApi.Shell("true");
        spec.Tenant = "team-b";
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await _api.Jobs(_teamA).SubmitAsync(new SubmitJobRequest { Spec = spec, RequestId = "a-sneaky" }, deadline: AuthApi.Deadline()));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));
        Assert.That(error.Status.Detail, Does.StartWith("spec.tenant:"));
    }

    [Test]
    public async Task Another_tenant_does_not_see_the_job_in_its_list()
    {
        var ofB = await _api.Jobs(_teamB).ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline());
        var ofA = await _api.Jobs(_teamA).ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline());
        var ofOperator = await _api.Jobs(_operator).ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline());
        Assert.That(ofB.Jobs.Select(j => j.Id), Does.Not.Contain(_jobOfA.Id));
        Assert.That(ofA.Jobs.Select(j => j.Id), Does.Contain(_jobOfA.Id));
        Assert.That(ofOperator.Jobs.Select(j => j.Id), Does.Contain(_jobOfA.Id));
    }

    [Test]
    public async Task Another_tenant_cannot_get_cancel_suspend_resume_explain_or_read_logs_of_the_job()
    {
        var jobs = _api.Jobs(_teamB);
        var id = _jobOfA.Id;
        await AssertNotFound(async () => await jobs.GetAsync(new GetJobRequest { Id = id }, deadline: AuthApi.Deadline()));
        await AssertNotFound(async () => await jobs.CancelAsync(new CancelJobRequest { Id = id }, deadline: AuthApi.Deadline()));
        await AssertNotFound(async () => await jobs.SuspendAsync(new SuspendJobRequest { Id = id }, deadline: AuthApi.Deadline()));
        await AssertNotFound(async () => await jobs.ResumeAsync(new ResumeJobRequest { Id = id }, deadline: AuthApi.Deadline()));
        await AssertNotFound(async () => await jobs.GetLogsAsync(new GetLogsRequest { JobId = id }, deadline: AuthApi.Deadline()));
        await AssertNotFound(async () => await _api.Admin(_teamB).ExplainJobAsync(new ExplainJobRequest { JobId = id }, deadline: AuthApi.Deadline()));
    }

    [Test]
    public async Task The_job_is_unchanged_after_the_other_tenant_tried_to_cancel_it()
    {
        await Assert.ThrowsAsync<RpcException>(async () => await _api.Jobs(_teamB).CancelAsync(new CancelJobRequest { Id = _jobOfA.Id }, deadline: AuthApi.Deadline()));
        var job = await _api.Jobs(_teamA).GetAsync(new GetJobRequest { Id = _jobOfA.Id }, deadline: AuthApi.Deadline());
        Assert.That(job.State, Is.EqualTo(JobState.Pending));
    }

    [Test]
    public async Task Another_tenant_cannot_watch_the_job()
    {
        await AssertNotFound(async () =>
        {
            using var call = _api.Jobs(_teamB).Watch(new WatchJobsRequest { JobId = _jobOfA.Id }, deadline: AuthApi.Deadline());
            await call.ResponseStream.MoveNext(CancellationToken.None);
        });
    }

    [Test]
    public async Task A_watch_of_every_job_shows_only_the_own_tenants_jobs()
    {
        // B watches everything; then A submits a second job and B submits one: B hears of its own only.
        using var call = _api.Jobs(_teamB).Watch(new WatchJobsRequest(), deadline: AuthApi.Deadline(60));
        var seen = new List<JobEvent>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None) && call.ResponseStream.Current.Type != JobEventType.Synced)
        {
            seen.Add(call.ResponseStream.Current);
        }

        await _api.Jobs(_teamA).SubmitAsync(new SubmitJobRequest { Spec = ClusterApi.Shell("sleep 60"), RequestId = "a-watched" }, deadline: AuthApi.Deadline());
        var ofB = (await _api.Jobs(_teamB).SubmitAsync(new SubmitJobRequest { Spec = ClusterApi.Shell("sleep 60"), RequestId = "b-watched" }, deadline: AuthApi.Deadline())).Job;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            seen.Add(call.ResponseStream.Current);
            if (call.ResponseStream.Current.Job?.Id == ofB.Id)
            {
                break;
            }
        }

        Assert.That(seen.Where(e => e.Job is not null).Select(e => e.Job.Spec.Tenant).Distinct(), Is.EqualTo(new[] { "team-b" }));
    }

    [Test]
    public async Task Another_tenant_reusing_a_request_id_learns_nothing_of_the_job()
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await _api.Jobs(_teamB).SubmitAsync(new SubmitJobRequest { Spec = ClusterApi.Shell("true"), RequestId = "a-1" }, deadline: AuthApi.Deadline()));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.AlreadyExists));
        Assert.That(error.Status.Detail, Does.Not.Contain(_jobOfA.Id));
    }

    private static async Task AssertNotFound(Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<RpcException>(call);
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.NotFound));
    }
}
