using Scheduler.Worker.Gpu;

namespace Scheduler.Worker.Tests;

/// <summary>The simulated topology option, and how NVML's pairwise readings become islands and groups.</summary>
[TestFixture]
public sealed class GpuTopologyTests
{
    [Test]
    public void Two_islands_of_four_one_per_numa_node_reach_the_registration()
    {
        using var probe = new SimulatedGpuProbe("node-a", 8, "H100", 81920, "nvlink:0-3,4-7;numa:0-3,4-7");

        Assert.That(probe.Devices.Select(d => d.NvlinkIsland), Is.EqualTo(new[] { 1, 1, 1, 1, 2, 2, 2, 2 }));
        Assert.That(probe.Devices.Select(d => d.NumaNode), Is.EqualTo(new[] { 1, 1, 1, 1, 2, 2, 2, 2 }));
        Assert.That(probe.Devices.Select(d => d.PcieSwitch), Has.All.Zero, "a level not given is none");
        Assert.That(probe.Devices[5].NvlinkPeers, Is.EqualTo(new[] { 4, 6, 7 }));
    }

    [Test]
    public void Groups_may_join_single_indices_and_ranges()
    {
        var places = SimulatedTopology.Parse("nvlink:0+2, 1+3 ; pcie-switch:0-1+4,2-3", 5);

        Assert.That(places.Select(p => p.NvLinkIsland), Is.EqualTo(new[] { 1, 2, 1, 2, 0 }));
        Assert.That(places.Select(p => p.PcieSwitch), Is.EqualTo(new[] { 1, 1, 2, 2, 1 }));
        Assert.That(places[4].NvLinkPeers, Is.Empty);
    }

    [Test]
    public void No_option_means_no_topology()
    {
        using var probe = new SimulatedGpuProbe("node-a", 2, "A100", 40960);

        Assert.That(probe.Devices.Select(d => (d.NvlinkIsland, d.PcieSwitch, d.NumaNode, d.NvlinkPeers.Count)), Has.All.EqualTo((0, 0, 0, 0)));
    }

    [TestCase("nvlink", "--sim-gpu-topology: 'nvlink' is not LEVEL:GROUPS (e.g. nvlink:0-3,4-7;numa:0-3,4-7)")]
    [TestCase("nvswitch:0-3", "--sim-gpu-topology: unknown level 'nvswitch' (nvlink, pcie-switch or numa)")]
    [TestCase("nvlink:0-3;nvlink:4-7", "--sim-gpu-topology: level 'nvlink' is given twice")]
    [TestCase("nvlink:0-8", "--sim-gpu-topology: GPU 8 in nvlink is out of range: this worker has 8 GPUs (0-7)")]
    [TestCase("nvlink:3-1", "--sim-gpu-topology: range '3-1' in nvlink is reversed")]
    [TestCase("numa:0-3,3-7", "--sim-gpu-topology: GPU 3 is in two numa groups")]
    [TestCase("nvlink:0-x", "--sim-gpu-topology: '0-x' in nvlink is not a GPU index or a range A-B")]
    [TestCase("nvlink:0-3,,4-7", "--sim-gpu-topology: an empty group in nvlink (groups are separated by ',', e.g. nvlink:0-3,4-7;numa:0-3,4-7)")]
    [TestCase("nvlink:-1", "--sim-gpu-topology: '-1' in nvlink is not a GPU index or a range A-B")]
    public void A_malformed_topology_is_refused_in_one_line_saying_what_is_wrong(string spec, string message)
    {
        var refusal = GpuProbeFactory.Refusal(new WorkerOptions { GpuProbe = "simulated", Gpus = 8, SimGpuTopology = spec });

        Assert.That(refusal, Is.EqualTo(message));
    }

    [Test]
    public void A_simulated_topology_needs_simulated_gpus()
    {
        Assert.That(GpuProbeFactory.Refusal(new WorkerOptions { GpuProbe = "auto", SimGpuTopology = "nvlink:0-3" }),
            Does.StartWith("--sim-gpu-topology describes simulated GPUs: it needs --gpu-probe simulated"));
        Assert.That(GpuProbeFactory.Refusal(new WorkerOptions { GpuProbe = "simulated", Gpus = 4, SimGpuTopology = "nvlink:0-3" }), Is.Null);
    }

    [Test]
    public void Gpus_sharing_nvswitches_form_one_island_and_bridged_pairs_their_own()
    {
        // GPUs 0-3 each link to the same two NVSwitches; 4+5 are bridged to each other; 6 and 7 have no NVLink.
        var addresses = Enumerable.Range(0, 8).Select(g => (PciAddress?)new PciAddress(0, (uint)(0x10 * (g + 1)), 0)).ToArray();
        var switchA = new PciAddress(0, 0xe0, 0);
        var switchB = new PciAddress(0, 0xf0, 0);
        var links = new List<(int, PciAddress)>();
        for (var g = 0; g < 4; g++)
        {
            links.Add((g, switchA));
            links.Add((g, switchB));
        }

        links.Add((4, addresses[5]!.Value));
        links.Add((5, addresses[4]!.Value));

        // PCIe: pairs under one switch (SINGLE); 0-3 and 4-7 each under one host bridge (NODE); across, SYSTEM.
        var places = TopologyGroups.Build(8, (i, j) => i / 2 == j / 2 ? 10 : i / 4 == j / 4 ? 40 : 50, addresses, links);

        Assert.That(places.Select(p => p.NvLinkIsland), Is.EqualTo(new[] { 1, 1, 1, 1, 2, 2, 0, 0 }));
        Assert.That(places.Select(p => p.PcieSwitch), Is.EqualTo(new[] { 1, 1, 2, 2, 3, 3, 4, 4 }));
        Assert.That(places.Select(p => p.NumaNode), Is.EqualTo(new[] { 1, 1, 1, 1, 2, 2, 2, 2 }));
        Assert.That(places[2].NvLinkPeers, Is.EqualTo(new[] { 0, 1, 3 }));
        Assert.That(places[4].NvLinkPeers, Is.EqualTo(new[] { 5 }));
    }

    [Test]
    public void Pairs_nvml_could_not_read_leave_their_gpus_unknown()
    {
        var addresses = new PciAddress?[] { new PciAddress(0, 1, 0), new PciAddress(0, 2, 0), new PciAddress(0, 3, 0) };

        var places = TopologyGroups.Build(3, (i, j) => i == 2 || j == 2 ? null : 10, addresses, []);

        Assert.That(places.Select(p => (p.PcieSwitch, p.NumaNode)), Is.EqualTo(new[] { (1, 1), (1, 1), (0, 0) }));
    }
}
