using Scheduler.Core.Placement;
using Scheduler.Simulation;

namespace Scheduler.Core.Tests.Simulation;

[TestFixture]
public sealed class TraceReplayTests
{
    private string _dir = null!;

    [SetUp]
    public void SetUp() => _dir = Directory.CreateTempSubdirectory("scheduler-sim").FullName;

    [TearDown]
    public void TearDown() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void Reader_maps_shared_whole_and_cpu_only_tasks_and_model_constraints()
    {
        var tasks = TraceReader.ReadTasks(Write("tasks.csv",
            "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time",
            "a,1000,100,1,460,,LS,Running,0,50,0",
            "b,2000,200,2,1000,V100M16|V100M32,LS,Running,10,20,10",
            "c,500,50,0,0,,BE,Running,,,"));

        Assert.That(tasks[0].Request.IsSharedGpu, Is.True);
        Assert.That(tasks[0].GpuDemandMilli, Is.EqualTo(460));
        Assert.That((tasks[1].Request.Gpus, tasks[1].GpuDemandMilli), Is.EqualTo((2, 2000L)));
        Assert.That(tasks[1].GpuModels, Is.EqualTo(new[] { "V100M16", "V100M32" }));
        Assert.That((tasks[1].CreationTime, tasks[1].DeletionTime), Is.EqualTo(((long?)10, (long?)20)));
        Assert.That(tasks[2].Request.NeedsGpu, Is.False);
        Assert.That(tasks[2].CreationTime, Is.Null);
    }

    [Test]
    public void Reader_names_the_file_line_and_column_of_bad_data()
    {
        var path = Write("tasks.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli", "a,lots,1,0,0");
        Assert.That(() => TraceReader.ReadTasks(path), Throws.TypeOf<FormatException>().With.Message.Contains("tasks.csv:2: cpu_milli 'lots'"));
        Assert.That(() => TraceReader.ReadNodes(path), Throws.TypeOf<FormatException>().With.Message.Contains("no 'sn' column"));
    }

    [Test]
    public void Protocol_on_a_tiny_cluster_gives_the_hand_computed_allocation()
    {
        // Two 1-GPU nodes (2000 milli). Every task asks 700 milli of one GPU, so at most one per
        // GPU: 1400 of 2000 can ever be allocated, whatever the order or policy.
        var nodes = TraceReader.ReadNodes(Write("nodes.csv", "sn,cpu_milli,memory_mib,gpu,model", "n1,8000,8192,1,T4", "n2,8000,8192,1,T4"));
        var tasks = TraceReader.ReadTasks(Write("tasks.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli", "a,100,100,1,700", "b,100,100,1,700"));
        var workload = TaskDistribution.FromDemands(tasks.Select((t, i) => t.Demand($"w{i}")));

        foreach (var policy in PlacementPolicies.Names)
        {
            var (alloc100, alloc130, frag100) = ArrivalReplay.Run(nodes, tasks, policy, 42, workload);

            // Inflation stops before 130% of 2000 = 2600: three tasks of 700 (2100); 100% is reached at the third.
            Assert.That(alloc100, Is.EqualTo(70.0).Within(1e-9), policy);
            Assert.That(alloc130, Is.EqualTo(70.0).Within(1e-9), policy);

            // Both GPUs have 300 milli left that the only typical task (700) cannot use: 600 of 2000.
            Assert.That(frag100, Is.EqualTo(30.0).Within(1e-9), policy);
        }
    }

    [Test]
    public void Inflation_stops_before_passing_130_percent_and_keeps_every_original_task()
    {
        var nodes = new[] { new TraceNode("n", 1000, 1000, 10, "A") };
        var tasks = new[] { Task("a", 0, 1000), Task("b", 1, 1000), Task("c", 1, 300) };

        var inflated = ArrivalReplay.Inflate(tasks, nodes, new Random(7));

        Assert.That(inflated.Take(3), Is.EqualTo(tasks));
        Assert.That(inflated.Sum(t => t.GpuDemandMilli), Is.LessThanOrEqualTo(13_000).And.GreaterThan(13_000 - 1000));
    }

    [Test]
    public void Same_seed_same_result_and_seeds_differ()
    {
        var nodes = Enumerable.Range(0, 20).Select(i => new TraceNode($"n{i}", 32_000, 131_072, 8, i % 2 == 0 ? "A" : "B")).ToArray();
        var random = new Random(3);
        var tasks = Enumerable.Range(0, 200).Select(i => random.Next(3) switch
        {
            0 => Task($"t{i}", 1, random.Next(100, 1000)),
            1 => Task($"t{i}", random.Next(1, 5), 1000),
            _ => Task($"t{i}", 0, 0),
        }).ToArray();
        var workload = TaskDistribution.FromDemands(tasks.Select((t, i) => t.Demand($"w{i}")));

        var first = ArrivalReplay.Run(nodes, tasks, PlacementPolicies.Default, 42, workload);
        var again = ArrivalReplay.Run(nodes, tasks, PlacementPolicies.Default, 42, workload);
        var other = ArrivalReplay.Run(nodes, tasks, PlacementPolicyNames.Random, 43, workload);

        Assert.That(again, Is.EqualTo(first));
        Assert.That(other, Is.Not.EqualTo(first));
    }

    [Test]
    public void Replay_in_time_queues_what_does_not_fit_until_a_departure()
    {
        var nodes = new[] { new TraceNode("n", 8000, 8192, 1, "T4") };
        var tasks = new[]
        {
            Task("first", 1, 1000, created: 0, deleted: 100),
            Task("second", 1, 1000, created: 10, deleted: 20),
            Task("too-big", 2, 1000, created: 5, deleted: 6),
        };
        var workload = TaskDistribution.FromDemands(tasks.Select((t, i) => t.Demand($"w{i}")));

        var result = TimeReplay.Run(nodes, tasks, PlacementPolicyNames.BestFit, 42, workload)!;

        // "second" waits from 10 until "first" leaves at 100: 90 s; "too-big" never fits.
        Assert.That(result.Placed, Is.EqualTo(2));
        Assert.That(result.NeverPlaced, Is.EqualTo(1));
        Assert.That(result.MaxDelaySeconds, Is.EqualTo(90));
        Assert.That(result.MeanDelaySeconds, Is.EqualTo(45));
    }

    [Test]
    public async Task Sim_command_prints_json_with_one_result_per_policy_and_rejects_bad_arguments()
    {
        var nodes = Write("nodes.csv", "sn,cpu_milli,memory_mib,gpu,model", "n1,8000,8192,2,T4", "n2,8000,8192,2,T4");
        var tasks = Write("tasks.csv", "name,cpu_milli,memory_mib,num_gpu,gpu_milli", "a,100,100,1,500", "b,100,100,1,1000", "c,100,100,0,0");
        using var output = new StringWriter();

        var code = await SimCli.RunAsync(["--nodes", nodes, "--tasks", tasks, "--policy", "all", "--seeds", "1-3", "-o", "json"], output, CancellationToken.None);

        Assert.That(code, Is.Zero, output.ToString());
        using var json = System.Text.Json.JsonDocument.Parse(output.ToString());
        var results = json.RootElement.GetProperty("results").EnumerateArray().ToArray();
        Assert.That(results.Select(r => r.GetProperty("policy").GetString()), Is.EqualTo(PlacementPolicies.Names));
        Assert.That(results.Select(r => r.GetProperty("alloc130").GetDouble()), Has.All.InRange(0.0, 100.0));

        using var bad = new StringWriter();
        Assert.That(await SimCli.RunAsync(["--nodes", nodes, "--tasks", tasks, "--policy", "magic"], bad, CancellationToken.None), Is.EqualTo(2));
        Assert.That(bad.ToString(), Does.Contain("--policy: 'magic'"));
    }

    private static TraceTask Task(string name, int gpus, int milli, long? created = null, long? deleted = null) =>
        new(name, 100, 100, gpus, milli, [], created, deleted);

    private string Write(string name, params string[] lines)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllLines(path, lines);
        return path;
    }
}
