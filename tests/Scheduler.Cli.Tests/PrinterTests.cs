using System.Text.Json;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Tests;

[TestFixture]
public sealed class PrinterTests
{
    [Test]
    public void Wide_output_keeps_each_job_on_one_line_with_whole_gpu_uuids()
    {
        var job = new Job
        {
            Id = "j-000042",
            State = JobState.Running,
            NodeId = "worker-with-a-rather-long-host-name-a",
            Attempt = 1,
            Message = "started on worker-with-a-rather-long-host-name-a after a long and winding scheduling pass",
            Spec = new JobSpec { Name = "train-llama-70b-with-a-long-name", Command = "/bin/true", Resources = new Resources { CpuMillis = 4000, MemoryMib = 65536, Gpus = 2 } },
        };
        job.GpuUuids.Add(["GPU-979eac15-a14d-6847-583c-c0f292fa9c2c", "GPU-8b228d99-4152-bbbc-9d76-72cc0a31e3c2"]);
        using var output = new StringWriter();

        new Printer("wide", output).Jobs([job]);

        var row = output.ToString().Split('\n').Single(l => l.Contains("j-000042", StringComparison.Ordinal));
        Assert.That(row, Does.Contain("GPU-979eac15-a14d-6847-583c-c0f292fa9c2c,GPU-8b228d99-4152-bbbc-9d76-72cc0a31e3c2")
            .And.Contain(job.Message).And.Contain("RUNNING"));
    }

    [Test]
    public void Node_describe_lists_islands_switches_numa_nodes_and_peers_per_gpu()
    {
        var node = new Node { Id = "n1", Capacity = new Resources(), Free = new Resources() };
        int[] islands = [1, 1, 2, 2, 0];
        for (var i = 0; i < islands.Length; i++)
        {
            var info = new GpuInfo { Index = i, Uuid = $"GPU-{i}", Model = "H100", NvlinkIsland = islands[i], PcieSwitch = 1 + (i / 2), NumaNode = 1 };
            info.NvlinkPeers.Add(Enumerable.Range(0, islands.Length).Where(p => p != i && islands[i] != 0 && islands[p] == islands[i]));
            node.Gpus.Add(new GpuStatus { Info = info, FreeMilli = 1000 });
        }

        using var output = new StringWriter();
        new Printer("table", output).Node(node);

        var text = output.ToString();
        Assert.That(text, Does.Contain("NVLink islands: 1: GPUs 0-1; 2: GPUs 2-3")
            .And.Contain("PCIe switches:  1: GPUs 0-1; 2: GPUs 2-3; 3: GPUs 4")
            .And.Contain("NUMA nodes:     1: GPUs 0-4"));
        var row = text.Split('\n').Single(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is ["4", "-", "3", "1", "-"]);
        Assert.That(row, Is.Not.Empty, "GPU 4: no island, switch 3, NUMA node 1, no peers");
    }

    [Test]
    public void Node_describe_says_when_the_worker_reported_no_topology()
    {
        var node = new Node { Id = "n1", Capacity = new Resources(), Free = new Resources() };
        node.Gpus.Add(new GpuStatus { Info = new GpuInfo { Index = 0, Uuid = "GPU-0", Model = "A100" } });
        using var output = new StringWriter();

        new Printer("table", output).Node(node);

        Assert.That(output.ToString(), Does.Contain("Topology: not reported"));
    }

    [Test]
    public void Job_get_shows_gpu_indices_before_their_uuids()
    {
        var job = new Job { Id = "j-1", State = JobState.Running, Spec = new JobSpec { Name = "n", Topology = "nvlink" } };
        job.GpuUuids.Add(["GPU-a", "GPU-b"]);
        job.GpuIndices.Add([4, 5]);
        using var output = new StringWriter();

        new Printer("table", output).Job(job);

        Assert.That(output.ToString(), Does.Match(@"GPUs\s+4, 5 \(GPU-a, GPU-b\)").And.Match(@"Topology\s+nvlink \(required\)"));
    }

    [Test]
    public void Table_output_cuts_a_long_message_instead_of_stretching_every_row()
    {
        var chatty = new Job { Id = "j-000001", State = JobState.Failed, Message = "exited with code 1: " + new string('x', 500), Spec = new JobSpec { Name = "n" } };
        var quiet = new Job { Id = "j-000002", State = JobState.Succeeded, Message = "exited 0", Spec = new JobSpec { Name = "n" } };
        using var output = new StringWriter();

        new Printer("table", output).Jobs([chatty, quiet]);

        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines.Max(l => l.Length), Is.LessThan(200));
        Assert.That(lines.Single(l => l.Contains("j-000001", StringComparison.Ordinal)), Does.Contain("exited with code 1: xxx").And.Contain("..."));
    }

    [Test]
    public void Json_writes_64_bit_integers_as_numbers_and_every_list_as_an_array()
    {
        var node = new Node { Id = "w1", Capacity = new Resources { CpuMillis = 8000, MemoryMib = 32768 }, Free = new Resources { MemoryMib = 1024 } };
        using var nodes = new StringWriter();
        using var none = new StringWriter();

        new Printer("json", nodes).Nodes([node]);
        new Printer("json", none).Jobs([]);

        var json = JsonDocument.Parse(nodes.ToString()).RootElement.GetProperty("nodes")[0];
        Assert.That(json.GetProperty("capacity").GetProperty("memoryMib").ValueKind, Is.EqualTo(JsonValueKind.Number));
        Assert.That(json.GetProperty("capacity").GetProperty("memoryMib").GetInt64(), Is.EqualTo(32768));
        Assert.That(json.GetProperty("free").GetProperty("cpuMillis").GetInt64(), Is.Zero, "zero is written, not left out");
        Assert.That(json.GetProperty("gpus").ValueKind, Is.EqualTo(JsonValueKind.Array));
        Assert.That(json.GetProperty("labels").ValueKind, Is.EqualTo(JsonValueKind.Object));
        Assert.That(json.GetProperty("health").GetString(), Is.EqualTo("NODE_HEALTH_UNSPECIFIED"));
        Assert.That(json.TryGetProperty("lastHeartbeat", out _), Is.False, "an unset message is left out");
        Assert.That(JsonDocument.Parse(none.ToString()).RootElement.GetProperty("jobs").GetArrayLength(), Is.Zero);
    }

    [Test]
    public void Jobs_get_of_a_gang_shows_every_replica_with_its_node_gpus_and_state()
    {
        var job = new Job { Id = "j-7", State = JobState.Running, Spec = new JobSpec { Replicas = 2 } };
        job.Replicas.Add(new JobReplica { Rank = 0, NodeId = "w1", Address = "10.0.0.1:29500", State = JobReplicaState.Running, GpuUuids = { "GPU-a" } });
        job.Replicas.Add(new JobReplica { Rank = 1, NodeId = "w2", Address = "10.0.0.2:29500", State = JobReplicaState.Exited, ExitCode = 0, GpuUuids = { "GPU-b" } });
        using var output = new StringWriter();

        new Printer("table", output).Job(job);

        var lines = output.ToString().Split('\n');
        Assert.That(lines, Has.Some.Match(@"RANK\s+NODE\s+ADDRESS\s+STATE\s+EXIT\s+GPUS"));
        Assert.That(lines, Has.Some.Match(@"^\s*0\s+w1\s+10\.0\.0\.1:29500\s+RUNNING\s+GPU-a"));
        Assert.That(lines, Has.Some.Match(@"^\s*1\s+w2\s+10\.0\.0\.2:29500\s+EXITED\s+0\s+GPU-b"));
    }

    [Test]
    public void Jobs_get_of_a_gang_shows_each_replicas_gpu_indices_before_their_uuids()
    {
        var job = new Job { Id = "j-8", State = JobState.Running, Spec = new JobSpec { Replicas = 2, Topology = "nvlink" } };
        job.Replicas.Add(new JobReplica { Rank = 0, NodeId = "w1", Address = "h1:29500", State = JobReplicaState.Running, GpuUuids = { "G-4", "G-5" }, GpuIndices = { 4, 5 } });
        job.Replicas.Add(new JobReplica { Rank = 1, NodeId = "w1", Address = "h1:29501", State = JobReplicaState.Running, GpuUuids = { "G-6", "G-7" }, GpuIndices = { 6, 7 } });
        using var output = new StringWriter();

        new Printer("table", output).Job(job);

        var lines = output.ToString().Split('\n');
        Assert.That(lines, Has.Some.Match(@"^\s*0\s+w1\s+h1:29500\s+RUNNING\s+4, 5 \(G-4, G-5\)"));
        Assert.That(lines, Has.Some.Match(@"^\s*1\s+w1\s+h1:29501\s+RUNNING\s+6, 7 \(G-6, G-7\)"));
    }

    [Test]
    public void Json_of_a_gang_carries_each_replicas_gpu_indices()
    {
        var job = new Job { Id = "j-8", Spec = new JobSpec { Replicas = 2 } };
        job.Replicas.Add(new JobReplica { Rank = 0, NodeId = "w1", GpuUuids = { "G-4" }, GpuIndices = { 4 } });
        using var output = new StringWriter();

        new Printer("json", output).Job(job);

        var replica = JsonDocument.Parse(output.ToString()).RootElement.GetProperty("replicas")[0];
        Assert.That(replica.GetProperty("gpuIndices")[0].GetInt32(), Is.EqualTo(4));
    }

    [Test]
    public void Jobs_why_of_a_waiting_gang_says_how_much_of_the_gang_fits_and_that_the_checks_are_per_replica()
    {
        var job = new Job { Id = "j-9", State = JobState.Pending, Spec = new JobSpec { Replicas = 4, Topology = "nvlink", Resources = new Resources { CpuMillis = 100, MemoryMib = 64, Gpus = 2 } } };
        var why = new JobExplanation
        {
            JobId = "j-9",
            State = JobState.Pending,
            Reason = "gang j-9: needs 4 replicas × 2 GPUs (topology nvlink); largest feasible set: 3 (n1: 3)",
            Policy = "fgd-mem",
            NodesTotal = 1,
            NodesFit = 1,
            Gang = "needs 4 replicas × 2 GPUs (topology nvlink); largest feasible set: 3 (n1: 3)",
        };

        var lines = Commands.WhyCommand.Format(why, job).ToList();

        Assert.That(lines, Does.Contain("gang: needs 4 replicas × 2 GPUs (topology nvlink); largest feasible set: 3 (n1: 3)"));
        Assert.That(lines, Has.Some.Match(@"^asks .*\(topology nvlink\), per replica of 4; policy fgd-mem$"));
    }

    [Test]
    public void Json_of_a_job_keeps_timestamps_as_text_and_leaves_out_an_unset_exit_code()
    {
        var job = new Job { Id = "j-1", CreatedAt = Google.Protobuf.WellKnownTypes.Timestamp.FromDateTimeOffset(new DateTimeOffset(2025, 1, 2, 3, 4, 5, TimeSpan.Zero)), Spec = new JobSpec { MaxRetries = 0 } };
        using var output = new StringWriter();

        new Printer("json", output).Job(job);

        var json = JsonDocument.Parse(output.ToString()).RootElement;
        Assert.That(json.GetProperty("createdAt").GetString(), Is.EqualTo("2025-01-02T03:04:05Z"));
        Assert.That(json.TryGetProperty("exitCode", out _), Is.False);
        Assert.That(json.GetProperty("spec").GetProperty("maxRetries").GetInt32(), Is.Zero, "an optional field set to 0 is written");
    }
}
