using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Every bad request gets a clear status naming the field, and nothing is stored.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class BadInputTests
{
    private TestCluster _cluster = null!;
    private ClusterApi _api = null!;

    [OneTimeSetUp]
    public async Task StartMaster()
    {
        _cluster = await TestCluster.StartAsync("badinput");
        _api = new ClusterApi(_cluster.MasterUrl);
    }

    [OneTimeTearDown]
    public async Task StopMaster()
    {
        _api?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }
    }

    public static IEnumerable<TestCaseData> InvalidSpecs()
    {
        static TestCaseData Case(string name, string field, Action<JobSpec> mutate) =>
            new TestCaseData(mutate, field).SetName($"Submit_rejects_{name}");

        yield return Case("an_empty_command", "spec.command", s => s.Command = "");
        yield return Case("a_whitespace_command", "spec.command", s => s.Command = "   ");
        yield return Case("negative_cpu", "spec.resources.cpu_millis", s => s.Resources.CpuMillis = -1);
        yield return Case("absurd_cpu", "spec.resources.cpu_millis", s => s.Resources.CpuMillis = 1_000_000_000);
        yield return Case("negative_memory", "spec.resources.memory_mib", s => s.Resources.MemoryMib = -5);
        yield return Case("absurd_memory", "spec.resources.memory_mib", s => s.Resources.MemoryMib = long.MaxValue);
        yield return Case("zero_resources", "spec.resources", s => s.Resources = new Resources());
        yield return Case("missing_resources", "spec.resources", s => s.Resources = null);
        yield return Case("negative_gpus", "spec.resources.gpus", s => s.Resources.Gpus = -1);
        yield return Case("absurd_gpus", "spec.resources.gpus", s => s.Resources.Gpus = 10_000);
        yield return Case("a_whole_gpu_as_milli", "spec.resources.gpu_milli", s => s.Resources.GpuMilli = 1000);
        yield return Case("gpus_and_gpu_milli_together", "spec.resources.gpu_milli", s =>
        {
            s.Resources.Gpus = 1;
            s.Resources.GpuMilli = 500;
        });
        yield return Case("priority_out_of_range", "spec.priority", s => s.Priority = 5000);
        yield return Case("negative_max_retries", "spec.max_retries", s => s.MaxRetries = -1);
        yield return Case("a_relative_working_dir", "spec.working_dir", s => s.WorkingDir = "relative/dir");
        yield return Case("an_env_name_with_equals", "spec.env", s => s.Env["A=B"] = "x");
        yield return Case("gpu_models_without_gpus", "spec.gpu_models", s => s.GpuModels.Add("A100"));
        yield return Case("a_nul_in_an_argument", "spec.args[0]", s => s.Args.Add("a\0b"));
        yield return Case("a_negative_runtime_estimate", "spec.runtime_estimate_s", s => s.RuntimeEstimateS = -1);
        yield return Case("an_empty_affinity_key", "spec.affinity_keys[0]", s => s.AffinityKeys.Add(""));
        yield return Case("too_many_replicas", "spec.replicas", s => s.Replicas = 100_000);
        yield return Case("a_checkpointable_gang", "spec.checkpointable", s =>
        {
            s.Replicas = 2;
            s.Checkpointable = true;
        });
        yield return Case("a_checkpoint_interval_without_checkpointable", "spec.checkpoint_interval_s", s => s.CheckpointIntervalS = 10);
        yield return Case("a_name_over_253_characters", "spec.name", s => s.Name = new string('n', 254));
        yield return Case("a_command_over_4096_characters", "spec.command", s => s.Command = "/" + new string('c', 4096));
        yield return Case("over_1024_args", "spec.args", s => s.Args.Add(Enumerable.Repeat("a", 1025)));
        yield return Case("an_arg_over_32KiB", "spec.args[0]", s => s.Args.Add(new string('a', (32 * 1024) + 1)));
        yield return Case("over_256_env_entries", "spec.env", s =>
        {
            for (var i = 0; i < 257; i++)
            {
                s.Env[$"V{i}"] = "x";
            }
        });
        yield return Case("env_over_256KiB_in_total", "spec.env", s =>
        {
            for (var i = 0; i < 9; i++)
            {
                s.Env[$"V{i}"] = new string('x', 30_000);
            }
        });
        yield return Case("an_env_name_over_256_characters", "spec.env", s => s.Env[new string('N', 257)] = "x");
        yield return Case("over_64_node_selector_labels", "spec.node_selector", s =>
        {
            for (var i = 0; i < 65; i++)
            {
                s.NodeSelector[$"k{i}"] = "v";
            }
        });
        yield return Case("a_node_selector_value_over_253_characters", "spec.node_selector[k]", s => s.NodeSelector["k"] = new string('v', 254));
        yield return Case("over_16_affinity_keys", "spec.affinity_keys", s => s.AffinityKeys.Add(Enumerable.Range(0, 17).Select(i => $"k{i}")));
        yield return Case("an_affinity_key_over_253_characters", "spec.affinity_keys[0]", s => s.AffinityKeys.Add(new string('k', 254)));
        yield return Case("a_negative_checkpoint_interval", "spec.checkpoint_interval_s", s =>
        {
            s.Checkpointable = true;
            s.CheckpointIntervalS = -1;
        });
        yield return Case("an_unknown_topology", "spec.topology", s =>
        {
            s.Resources.Gpus = 4;
            s.Topology = "nvswitch";
        });
        yield return Case("a_topology_without_whole_gpus", "spec.topology", s => s.Topology = "nvlink");
    }

    [TestCaseSource(nameof(InvalidSpecs))]
    public async Task Submit_rejects_invalid_spec_naming_the_field_and_stores_nothing(Action<JobSpec> mutate, string field)
    {
        var spec = new JobSpec { Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64 } };
        mutate(spec);
        var requestId = Guid.NewGuid().ToString("N");

        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.SubmitAsync(new SubmitJobRequest { Spec = spec, RequestId = requestId }, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.StartWith(field));
        var all = await _api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        Assert.That(all.Jobs.Select(j => j.RequestId), Does.Not.Contain(requestId));
    }

    [Test]
    public async Task SubmitBatch_rejects_an_invalid_item_naming_it_and_stores_nothing_of_the_batch()
    {
        var prefix = Guid.NewGuid().ToString("N");
        var request = new SubmitJobBatchRequest();
        request.Items.Add(new SubmitJobRequest { RequestId = $"{prefix}-0", Spec = ClusterApi.Shell("exit 0") });
        var bad = ClusterApi.Shell("exit 0");
        bad.Resources.Gpus = -1;
        request.Items.Add(new SubmitJobRequest { RequestId = $"{prefix}-1", Spec = bad });

        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.SubmitBatchAsync(request, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.StartWith("items[1].spec.resources.gpus"));
        var all = await _api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        Assert.That(all.Jobs.Select(j => j.RequestId), Has.None.StartsWith(prefix), "the valid item was not stored either");
    }

    [Test]
    public async Task SubmitBatch_without_items_is_rejected()
    {
        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.SubmitBatchAsync(new SubmitJobBatchRequest(), deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.StartWith("items"));
    }

    [Test]
    public async Task SubmitBatch_creates_each_job_once_and_a_retry_returns_the_same_jobs()
    {
        var prefix = Guid.NewGuid().ToString("N");
        var request = new SubmitJobBatchRequest();
        for (var i = 0; i < 3; i++)
        {
            request.Items.Add(new SubmitJobRequest { RequestId = $"{prefix}-{i}", Spec = ClusterApi.Shell("exit 0") });
        }

        var first = await _api.Jobs.SubmitBatchAsync(request, deadline: ClusterApi.Deadline());
        var retry = await _api.Jobs.SubmitBatchAsync(request, deadline: ClusterApi.Deadline());

        Assert.That(first.Items.Select(i => i.Created), Is.All.True);
        Assert.That(retry.Items.Select(i => (i.Job.Id, i.Created)), Is.EqualTo(first.Items.Select(i => (i.Job.Id, false))));
        var all = await _api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        Assert.That(all.Jobs.Count(j => j.RequestId.StartsWith(prefix, StringComparison.Ordinal)), Is.EqualTo(3));
    }

    [Test]
    public async Task Submit_without_a_request_id_is_rejected()
    {
        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.SubmitAsync(new SubmitJobRequest { Spec = ClusterApi.Shell("exit 0") }, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.StartWith("request_id"));
    }

    [Test]
    public async Task Submit_without_a_spec_is_rejected()
    {
        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.SubmitAsync(new SubmitJobRequest { RequestId = "r-no-spec" }, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.StartWith("spec"));
    }

    [Test]
    public async Task Reusing_a_request_id_for_a_different_spec_is_rejected()
    {
        var requestId = Guid.NewGuid().ToString("N");
        await _api.Jobs.SubmitAsync(new SubmitJobRequest { Spec = ClusterApi.Shell("exit 0"), RequestId = requestId }, deadline: ClusterApi.Deadline());

        var ex = await RpcAssert.FailsWith(StatusCode.AlreadyExists,
            () => _api.Jobs.SubmitAsync(new SubmitJobRequest { Spec = ClusterApi.Shell("exit 1"), RequestId = requestId }, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.Contain("request_id"));
    }

    [Test]
    public async Task Oversize_request_is_rejected_before_it_reaches_the_scheduler()
    {
        var spec = ClusterApi.Shell("exit 0");
        spec.Env["BIG"] = new string('x', 2 * 1024 * 1024);
        var requestId = Guid.NewGuid().ToString("N");

        await RpcAssert.FailsWith(StatusCode.ResourceExhausted,
            () => _api.Jobs.SubmitAsync(new SubmitJobRequest { Spec = spec, RequestId = requestId }, deadline: ClusterApi.Deadline()).ResponseAsync);

        var all = await _api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        Assert.That(all.Jobs.Select(j => j.RequestId), Does.Not.Contain(requestId));
    }

    [Test]
    public async Task Unknown_job_id_is_not_found_for_get_cancel_and_logs()
    {
        var ex = await RpcAssert.FailsWith(StatusCode.NotFound,
            () => _api.Jobs.GetAsync(new GetJobRequest { Id = "j-999999" }, deadline: ClusterApi.Deadline()).ResponseAsync);
        Assert.That(ex.Status.Detail, Does.Contain("j-999999"));
        await RpcAssert.FailsWith(StatusCode.NotFound,
            () => _api.Jobs.CancelAsync(new CancelJobRequest { Id = "j-999999" }, deadline: ClusterApi.Deadline()).ResponseAsync);
        await RpcAssert.FailsWith(StatusCode.NotFound,
            () => _api.Jobs.GetLogsAsync(new GetLogsRequest { JobId = "j-999999" }, deadline: ClusterApi.Deadline()).ResponseAsync);
        await RpcAssert.FailsWith(StatusCode.NotFound,
            () => _api.Jobs.SuspendAsync(new SuspendJobRequest { Id = "j-999999" }, deadline: ClusterApi.Deadline()).ResponseAsync);
        await RpcAssert.FailsWith(StatusCode.NotFound,
            () => _api.Jobs.ResumeAsync(new ResumeJobRequest { Id = "j-999999" }, deadline: ClusterApi.Deadline()).ResponseAsync);
    }

    [Test]
    public async Task Empty_job_id_is_invalid()
    {
        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.GetAsync(new GetJobRequest(), deadline: ClusterApi.Deadline()).ResponseAsync);
        var suspend = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.SuspendAsync(new SuspendJobRequest(), deadline: ClusterApi.Deadline()).ResponseAsync);
        var resume = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.ResumeAsync(new ResumeJobRequest(), deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(new[] { ex.Status.Detail, suspend.Status.Detail, resume.Status.Detail }, Is.All.StartWith("id"));
    }

    [Test]
    public async Task Unknown_node_is_not_found_for_describe_and_cordon()
    {
        await RpcAssert.FailsWith(StatusCode.NotFound,
            () => _api.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = "no-such-node" }, deadline: ClusterApi.Deadline()).ResponseAsync);
        await RpcAssert.FailsWith(StatusCode.NotFound,
            () => _api.Admin.CordonNodeAsync(new CordonNodeRequest { Id = "no-such-node" }, deadline: ClusterApi.Deadline()).ResponseAsync);
    }

    [Test]
    public async Task Negative_list_limit_is_invalid()
    {
        var ex = await RpcAssert.FailsWith(StatusCode.InvalidArgument,
            () => _api.Jobs.ListAsync(new ListJobsRequest { Limit = -1 }, deadline: ClusterApi.Deadline()).ResponseAsync);

        Assert.That(ex.Status.Detail, Does.StartWith("limit"));
    }
}
