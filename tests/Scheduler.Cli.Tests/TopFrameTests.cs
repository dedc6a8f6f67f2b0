using Scheduler.Cli.Commands;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Tests;

/// <summary>`schedctl top`'s frame: every line fits the width, whatever the names, models and job lists.</summary>
[TestFixture]
public sealed class TopFrameTests
{
    [Test]
    public void Long_names_models_and_job_lists_are_cut_to_80_columns()
    {
        var node = new Node
        {
            Id = "a-very-long-node-name-that-goes-on-and-on.example.internal",
            Health = NodeHealth.Ready,
            Cordoned = true,
            Capacity = new Resources { CpuMillis = 256_000, MemoryMib = 2_097_152, Gpus = 8 },
            Free = new Resources { CpuMillis = 1000, MemoryMib = 1024, Gpus = 0 },
        };
        for (var i = 0; i < 8; i++)
        {
            var gpu = new GpuStatus
            {
                Info = new GpuInfo { Index = i, Model = "NVIDIA H100 80GB HBM3", MemoryMib = 81_920 },
                FreeMilli = 0,
                Telemetry = new GpuTelemetry { Index = i, UtilizationPercent = 100, MemoryUsedMib = 81_920, MemoryTotalMib = 81_920, TemperatureC = 88, PowerMw = 700_000 },
            };
            gpu.JobIds.Add(Enumerable.Range(0, 7).Select(j => $"j-{j:D6}"));
            node.Gpus.Add(gpu);
        }

        node.JobIds.Add(Enumerable.Range(0, 56).Select(j => $"j-{j:D6}"));
        var status = new ClusterStatus { Leader = new LeaderInfo { MasterId = "master-with-a-long-name-too", Epoch = 123_456 }, NodesTotal = 1, NodesReady = 1, GpusTotal = 8, GpuAllocationPercent = 100 };

        var frame = TopFrame.Render(status, [node], DateTimeOffset.UnixEpoch, 80);

        Assert.That(frame.Max(l => l.Length), Is.LessThanOrEqualTo(80));
        Assert.That(frame.Count(l => l.Contains("H100 80GB", StringComparison.Ordinal)), Is.EqualTo(8), "one row per GPU");
        Assert.That(frame, Has.Some.Contains("[##########]  100%"));
        Assert.That(frame, Has.Some.StartsWith("a-very-long-nod~ READY,C"));
    }

    [Test]
    public void A_cluster_without_nodes_says_so()
    {
        var frame = TopFrame.Render(new ClusterStatus { Leader = new LeaderInfo { MasterId = "m" } }, [], DateTimeOffset.UnixEpoch, 80);

        Assert.That(frame[^1], Is.EqualTo("(no nodes registered)"));
    }
}
