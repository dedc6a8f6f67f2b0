using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Tests;

/// <summary>What a gang replica's agent is told of its gang.</summary>
[TestFixture]
public sealed class GangEnvironmentTests
{
    [Test]
    public void A_replica_learns_its_rank_world_peers_own_port_and_rank_0_as_the_rendezvous()
    {
        var gang = new GangRank { JobId = "j-000007", Rank = 2, WorldSize = 3, LocalRank = 1, LocalWorldSize = 2, Peers = { "10.0.0.1:29500", "10.0.0.2:29500", "10.0.0.2:29501" } };
        var environment = new Dictionary<string, string?> { ["RANK"] = "from the job's own env" };

        GangEnvironment.Apply(gang, environment);

        Assert.That(environment, Is.SupersetOf(new Dictionary<string, string?>
        {
            ["SCHEDULER_GANG_JOB_ID"] = "j-000007",
            ["SCHEDULER_RANK"] = "2",
            ["SCHEDULER_WORLD_SIZE"] = "3",
            ["SCHEDULER_LOCAL_RANK"] = "1",
            ["SCHEDULER_PEERS"] = "10.0.0.1:29500,10.0.0.2:29500,10.0.0.2:29501",
            ["SCHEDULER_PORT"] = "29501",
            ["RANK"] = "2",
            ["WORLD_SIZE"] = "3",
            ["LOCAL_RANK"] = "1",
            ["LOCAL_WORLD_SIZE"] = "2",
            ["MASTER_ADDR"] = "10.0.0.1",
            ["MASTER_PORT"] = "29500",
        }));
    }

    [Test]
    public void An_ipv6_rendezvous_address_is_given_bare()
    {
        var environment = new Dictionary<string, string?>();

        GangEnvironment.Apply(new GangRank { Rank = 0, WorldSize = 2, Peers = { "[fd00::1]:29500", "[fd00::2]:29500" } }, environment);

        Assert.That((environment["MASTER_ADDR"], environment["MASTER_PORT"]), Is.EqualTo(("fd00::1", "29500")));
    }
}
