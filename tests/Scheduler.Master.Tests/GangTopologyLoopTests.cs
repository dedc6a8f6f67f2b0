using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Workers;

namespace Scheduler.Master.Tests;

/// <summary>
/// Gangs on nodes that report GPU topology (as workers started with `--sim-gpu-topology
/// "nvlink:0-3,4-7;numa:0-3,4-7"` do), through the master's loop: which GPUs each replica gets, and what
/// `jobs get` and `jobs why` say.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class GangTopologyLoopTests
{
    private static readonly int[] TwoIslands = [1, 1, 1, 1, 2, 2, 2, 2];

    [Test]
    public async Task An_nvlink_gang_gets_one_island_per_replica_on_the_node_that_holds_it_whole()
    {
        await using var harness = await LoopHarness.StartAsync();
        var a = await ConnectAsync(harness, "a", TwoIslands);
        var b = await ConnectAsync(harness, "b", TwoIslands);
        var single = await harness.SubmitAsync("one", gpus: 1);
        await harness.SettleAsync();
        var busy = GangLoopTests.Starts(a, b).Single();
        var (taken, free) = busy.Session == a ? (a, b) : (b, a);

        var gang = await SubmitAsync(harness, "g", replicas: 2, gpus: 4, topology: "nvlink");
        await harness.SettleAsync();

        var starts = GangLoopTests.Starts(a, b);
        Assert.That(starts.Select(s => s.Session), Is.All.SameAs(free), $"{single.Id} broke an island on {taken.NodeId}: only {free.NodeId} holds both replicas");
        Assert.That(starts.OrderBy(s => s.Start.Gang.Rank).Select(s => Indices(s.Start)), Is.EqualTo(new[] { new[] { 0, 1, 2, 3 }, [4, 5, 6, 7] }));
        var shown = ProtoMapping.ToProto(harness.Loop.View.Jobs[gang.Id]).Replicas;
        Assert.That(shown.Select(r => (r.Rank, r.NodeId, string.Join(",", r.GpuIndices))), Is.EqualTo(new[] { (0, free.NodeId, "0,1,2,3"), (1, free.NodeId, "4,5,6,7") }), "jobs get shows each replica's node and GPU indices");
        Assert.That(shown.Select(r => r.GpuUuids.Select(u => int.Parse(u[(u.LastIndexOf('-') + 1)..], System.Globalization.CultureInfo.InvariantCulture))), Is.EqualTo(shown.Select(r => r.GpuIndices)), "indices in the UUIDs' order");
        var why = await harness.Loop.AskAsync<JobExplanation>(r => new ExplainJob(gang.Id, r), Timeout());
        Assert.That(why.Gang, Is.EqualTo($"2 replicas × 4 GPUs (topology nvlink), placed whole ({free.NodeId}: 2)"));
    }

    [Test]
    public async Task Two_replicas_on_a_node_share_one_island_rather_than_each_taking_the_tightest_fit()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n = await ConnectAsync(harness, "n", TwoIslands);
        await harness.SubmitAsync("pair", gpus: 2);
        Assert.That(Indices(await NextStartAsync(n)), Is.EqualTo(new[] { 0, 1 }));

        var gang = await SubmitAsync(harness, "g", replicas: 2, gpus: 2, topology: "");
        await harness.SettleAsync();

        var starts = GangLoopTests.Starts(n).OrderBy(s => s.Start.Gang.Rank).ToList();
        Assert.That(starts.Select(s => Indices(s.Start)), Is.EqualTo(new[] { new[] { 4, 5 }, [6, 7] }), "2-3 and 4-5 would put the replicas' all-reduce across islands");
        Assert.That(starts.Select(s => s.Start.Gang.JobId).Distinct(), Is.EqualTo(new[] { gang.Id }));
    }

    [Test]
    public async Task A_gang_that_does_not_fit_whole_waits_holding_nothing_and_jobs_why_says_how_many_replicas_fit()
    {
        await using var harness = await LoopHarness.StartAsync();
        var n1 = await ConnectAsync(harness, "n1", TwoIslands);
        await harness.SubmitAsync("one", gpus: 1);
        Assert.That(Indices(await NextStartAsync(n1)), Is.EqualTo(new[] { 0 }));

        var gang = await SubmitAsync(harness, "g", replicas: 4, gpus: 2, topology: "nvlink");
        await harness.SettleAsync();

        const string Shortfall = "needs 4 replicas × 2 GPUs (topology nvlink); largest feasible set: 3 (n1: 3)";
        var waiting = harness.Loop.View.Jobs[gang.Id];
        Assert.That((waiting.State, waiting.HoldsAllocation), Is.EqualTo((JobState.Pending, false)));
        Assert.That(waiting.PendingReason, Is.EqualTo($"gang {gang.Id}: {Shortfall}"));
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(7));
        var why = await harness.Loop.AskAsync<JobExplanation>(r => new ExplainJob(gang.Id, r), Timeout());
        Assert.That(why.Gang, Is.EqualTo(Shortfall));
        Assert.That(why.Reason, Does.Contain(Shortfall));
        Assert.That(harness.Loop.View.Nodes["n1"].Free.Gpus, Is.EqualTo(7), "asking probes and gives everything back");
    }

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

    private static async Task<Job> SubmitAsync(LoopHarness harness, string requestId, int replicas, int gpus, string topology)
    {
        var spec = new JobSpec { Name = requestId, Command = "/bin/true", Resources = new Resources { CpuMillis = 100, MemoryMib = 64, Gpus = gpus }, Replicas = replicas, Topology = topology };
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
