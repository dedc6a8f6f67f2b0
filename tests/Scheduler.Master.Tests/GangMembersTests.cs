using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests;

/// <summary>Replica names and addresses.</summary>
[TestFixture]
public sealed class GangMembersTests
{
    [Test]
    public void A_replica_agent_id_names_its_gang_and_rank_and_a_job_id_names_no_replica()
    {
        Assert.That(GangMembers.TryParse(GangMembers.AgentId("j-000042", 7), out var job, out var rank), Is.True);
        Assert.That((job, rank), Is.EqualTo(("j-000042", 7)));
        Assert.That(GangMembers.TryParse("j-000042", out _, out _), Is.False);
        Assert.That(GangMembers.TryParse("j-000042-rx", out _, out _), Is.False);
    }

    [TestCase("10.1.2.3:7000", "host-a", "10.1.2.3")]
    [TestCase("[fd00::5]:7000", "host-a", "[fd00::5]")]
    [TestCase("0.0.0.0:7000", "host-a", "host-a")]
    [TestCase("[::]:7000", "host-a", "host-a")]
    [TestCase("", "host-a", "host-a")]
    [TestCase("", "", "n1")]
    public void Peers_reach_a_node_by_its_transfer_host_else_its_host_name(string transfer, string hostname, string expected)
    {
        var node = new NodeRecord("n1", hostname, 1000, 1024, [], new Dictionary<string, string>(), false, false, "v", transfer);

        Assert.That(GangMembers.HostOf(node), Is.EqualTo(expected));
    }

    [Test]
    public void A_replica_gets_the_lowest_port_no_other_replica_on_its_host_holds()
    {
        Assert.That(GangMembers.FreePort(new HashSet<int>()), Is.EqualTo(29500));
        Assert.That(GangMembers.FreePort(new HashSet<int> { 29500, 29502 }), Is.EqualTo(29501));
        Assert.That(GangMembers.FreePort(Enumerable.Range(29500, GangMembers.PortRange).ToHashSet()), Is.Null);
    }
}
