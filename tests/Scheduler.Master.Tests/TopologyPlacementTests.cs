using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Validation;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

/// <summary>
/// GPU topology through the master's loop: a node registers two NVLink islands of four GPUs (as a worker
/// started with `--sim-gpu-topology "nvlink:0-3,4-7;numa:0-3,4-7"` does), and jobs are placed on it.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class TopologyPlacementTests
{
    private static readonly int[] TwoIslands = [1, 1, 1, 1, 2, 2, 2, 2];

    [Test]
    public async Task A_four_gpu_job_lands_inside_one_island()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await ConnectAsync(harness, "n1", TwoIslands);

        var pair = await harness.SubmitAsync("pair", gpus: 2);
        Assert.That(Indices(await NextStartAsync(session)), Is.EqualTo(new[] { 0, 1 }));
        var four = await harness.SubmitAsync("four", gpus: 4);
        var start = await NextStartAsync(session);

        Assert.That(start.JobId, Is.EqualTo(four.Id));
        Assert.That(Indices(start), Is.EqualTo(new[] { 4, 5, 6, 7 }), "the first free GPUs (2-5) would straddle the islands");
        Assert.That(ProtoMapping.ToProto(harness.Loop.View.Jobs[four.Id]).GpuIndices, Is.EqualTo(new[] { 4, 5, 6, 7 }), "jobs get shows the indices");
        Assert.That(ProtoMapping.ToProto(harness.Loop.View.Jobs[pair.Id]).GpuIndices, Is.EqualTo(new[] { 0, 1 }));
    }

    [Test]
    public async Task An_nvlink_job_waits_while_no_island_has_enough_free_gpus_and_says_why()
    {
        await using var harness = await LoopHarness.StartAsync();
        var session = await ConnectAsync(harness, "n1", TwoIslands);
        var pairs = new List<(Job Job, int[] Gpus)>();
        for (var i = 0; i < 4; i++)
        {
            var job = await harness.SubmitAsync($"pair{i}", gpus: 2);
            pairs.Add((job, Indices(await NextStartAsync(session))));
        }

        Assert.That(pairs.Select(p => p.Gpus), Is.EqualTo(new[] { new[] { 0, 1 }, [2, 3], [4, 5], [6, 7] }), "pairs fill one island before the next");
        harness.Report(session, pairs[0].Job.Id, 1, AgentState.Exited, exitCode: 0);
        harness.Report(session, pairs[2].Job.Id, 1, AgentState.Exited, exitCode: 0);
        await harness.SettleAsync();

        var linked = await SubmitAsync(harness, "linked", gpus: 4, topology: "nvlink");
        await harness.SettleAsync();

        var waiting = harness.Loop.View.Jobs[linked.Id];
        Assert.That(waiting.State, Is.EqualTo(JobState.Pending), "GPUs 0, 1, 4 and 5 are free, but in two islands");
        Assert.That(waiting.PendingReason, Does.Contain("topology nvlink: no NVLink island has 4 free GPUs"));
        var why = await harness.Loop.AskAsync<JobExplanation>(r => new ExplainJob(linked.Id, r), Timeout());
        Assert.That(why.Failures.Select(f => (f.Check, f.Reason, f.Nodes)), Is.EqualTo(new[] { ("topology", "topology nvlink: no NVLink island has 4 free GPUs", 1) }));
        Assert.That(LoopHarness.Drain(session).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty);

        harness.Report(session, pairs[1].Job.Id, 1, AgentState.Exited, exitCode: 0);
        var start = await NextStartAsync(session);

        Assert.That((start.JobId, Indices(start)), Is.EqualTo((linked.Id, new[] { 0, 1, 2, 3 })), "placed once island 0-3 is whole again");
    }

    [Test]
    public async Task A_node_that_cannot_give_a_linked_set_is_passed_over()
    {
        await using var harness = await LoopHarness.StartAsync();
        var plain = await harness.ConnectAsync("a-plain", gpus: 8);
        var islands = await ConnectAsync(harness, "b-islands", TwoIslands);

        var linked = await SubmitAsync(harness, "linked", gpus: 4, topology: "nvlink");
        var start = await NextStartAsync(islands);

        Assert.That((start.JobId, Indices(start)), Is.EqualTo((linked.Id, new[] { 0, 1, 2, 3 })));
        Assert.That(LoopHarness.Drain(plain).Where(c => c.BodyCase == MasterCommand.BodyOneofCase.Start), Is.Empty);
        var tooBig = await SubmitAsync(harness, "too-big", gpus: 8, topology: "nvlink");
        await harness.SettleAsync();
        Assert.That(harness.Loop.View.Jobs[tooBig.Id].PendingReason, Does.StartWith("fits no node's total capacity")
            .And.Contain("topology nvlink: no NVLink island has 8 GPUs"), "no island of 8 exists anywhere: it waits for hardware");
    }

    [Test]
    public async Task A_job_of_the_same_size_without_a_requirement_is_not_held_back_by_a_waiting_nvlink_job()
    {
        await using var harness = await LoopHarness.StartAsync();
        var plain = await harness.ConnectAsync("n1", gpus: 4);
        var linked = await SubmitAsync(harness, "linked", gpus: 4, topology: "nvlink");
        await harness.SettleAsync();

        var any = await harness.SubmitAsync("any", gpus: 4);
        var start = await NextStartAsync(plain);

        Assert.That(start.JobId, Is.EqualTo(any.Id));
        Assert.That(harness.Loop.View.Jobs[linked.Id].State, Is.EqualTo(JobState.Pending));
    }

    [Test]
    public async Task Nodes_describe_shows_each_gpus_island_numa_node_and_links()
    {
        await using var harness = await LoopHarness.StartAsync();
        await ConnectAsync(harness, "n1", TwoIslands);

        var gpus = harness.Loop.View.Nodes["n1"].Gpus;

        Assert.That(gpus.Select(g => g.Info.NvlinkIsland), Is.EqualTo(TwoIslands));
        Assert.That(gpus.Select(g => g.Info.NumaNode), Is.EqualTo(TwoIslands));
        Assert.That(gpus[5].Info.NvlinkPeers, Is.EqualTo(new[] { 4, 6, 7 }));
    }

    [TestCase("nvswitch", 4, "spec.topology must be one of nvlink, pcie-switch, numa, or empty for no requirement (got 'nvswitch')")]
    [TestCase("NVLINK", 4, "spec.topology must be one of")]
    [TestCase("nvlink", 0, "spec.topology is set but the job asks for no whole GPUs (resources.gpus)")]
    public void An_invalid_topology_is_refused_naming_the_field(string topology, int gpus, string message)
    {
        var spec = new JobSpec { Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64, Gpus = gpus }, Topology = topology };

        var ex = Assert.Throws<RpcException>(() => JobSpecValidator.ValidateSpec(spec));

        Assert.That(ex!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(ex.Status.Detail, Does.StartWith(message));
    }

    [TestCase("")]
    [TestCase("nvlink")]
    [TestCase("pcie-switch")]
    [TestCase("numa")]
    public void A_known_topology_is_accepted(string topology) =>
        Assert.That(() => JobSpecValidator.ValidateSpec(new JobSpec { Command = "/bin/true", Resources = new Resources { CpuMillis = 100, Gpus = 2 }, Topology = topology }), Throws.Nothing);

    private static async Task<WorkerSession> ConnectAsync(LoopHarness harness, string nodeId, int[] islands)
    {
        var session = new WorkerSession(nodeId, "test");
        var registration = new RegisterWorker { NodeId = nodeId, Capacity = new Resources { CpuMillis = 8000, MemoryMib = 32768 } };
        for (var i = 0; i < islands.Length; i++)
        {
            var gpu = new GpuInfo { Index = i, Uuid = $"GPU-{nodeId}-{i}", Model = "A100", MemoryMib = 40960, NvlinkIsland = islands[i], NumaNode = islands[i] };
            gpu.NvlinkPeers.Add(Enumerable.Range(0, islands.Length).Where(p => p != i && islands[p] == islands[i]));
            registration.Gpus.Add(gpu);
        }

        harness.Loop.Post(new WorkerConnected(session, registration));
        Assert.That((await LoopHarness.NextAsync(session)).BodyCase, Is.EqualTo(MasterCommand.BodyOneofCase.Registered));
        return session;
    }

    private static async Task<Job> SubmitAsync(LoopHarness harness, string requestId, int gpus, string topology)
    {
        var spec = new JobSpec { Name = requestId, Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64, Gpus = gpus }, Topology = topology };
        var reply = await harness.Loop.AskAsync<SubmitJobResponse>(r => new SubmitJob(new SubmitJobRequest { RequestId = requestId, Spec = spec }, r), Timeout());
        return reply.Job;
    }

    private static async Task<StartAgent> NextStartAsync(WorkerSession session)
    {
        while (true)
        {
            var command = await LoopHarness.NextAsync(session);
            if (command.BodyCase == MasterCommand.BodyOneofCase.Start)
            {
                return command.Start;
            }
        }
    }

    private static int[] Indices(StartAgent start) =>
        [.. start.GpuUuids.Select(u => int.Parse(u[(u.LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture))];

    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;
}
