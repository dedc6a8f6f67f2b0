using Scheduler.Contracts.V1;
using Scheduler.Core.Cluster;
using Scheduler.Core.Fairness;
using Scheduler.Core.Queueing;
using Scheduler.Core.Resources;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests;

/// <summary>
/// The running-job table a pass reads, kept per node as allocations change, answers exactly what a table
/// built from every allocation answered (tenant usage, and a job for each allocation present), however
/// allocations come and go, jobs appear, change and are forgotten, and nodes are rebuilt or added.
/// </summary>
[TestFixture]
public sealed class RunningJobsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 30, 0, 0, 0, TimeSpan.Zero);

    [TestCase(1)]
    [TestCase(2)]
    [TestCase(3)]
    [TestCase(4)]
    [TestCase(5)]
    public void Answers_as_a_table_built_from_every_allocation_through_random_changes(int seed)
    {
        var random = new Random(seed);
        var nodes = new SortedDictionary<string, NodeEntry>(StringComparer.Ordinal);
        var jobs = new Dictionary<string, JobRecord>(StringComparer.Ordinal);
        for (var n = 0; n < 3; n++)
        {
            AddNode(nodes, $"n{n}");
        }

        JobRecord? JobOf(string id) =>
            jobs.TryGetValue(id, out var job) ? job
            : GangMembers.TryParse(id, out var gangId, out _) && jobs.TryGetValue(gangId, out var gang) && gang.IsGang ? gang
            : null;
        var table = new RunningJobs(nodes, JobOf, TenantOf, Describe);

        for (var step = 0; step < 2000; step++)
        {
            var what = random.Next(100);
            var node = nodes.Values.ElementAt(random.Next(nodes.Count));
            if (what < 40)
            {
                // Plain jobs, gang replicas and ids no job has (yet); one id may sit on two nodes, as a migrating job does.
                var id = random.Next(3) switch
                {
                    0 => $"j-{random.Next(20)}",
                    1 => GangMembers.AgentId($"g-{random.Next(4)}", random.Next(3)),
                    _ => $"x-{random.Next(5)}",
                };
                var request = new ResourceRequest(100 * (1 + random.Next(4)), 64 * random.Next(3));
                if (!node.State.Allocations.ContainsKey(id) && node.State.CpuFree >= request.CpuMillis && node.State.MemoryFree >= request.MemoryMib)
                {
                    node.State.Allocate(new Allocation(id, node.Id, request, []));
                }
            }
            else if (what < 70 && node.State.Allocations.Count > 0)
            {
                node.State.Release(node.State.Allocations.Keys.ElementAt(random.Next(node.State.Allocations.Count)));
            }
            else if (what < 85)
            {
                // A job becomes known, or changes (priority, start): no notice is given to the table.
                var id = random.Next(4) == 0 ? $"g-{random.Next(4)}" : random.Next(6) == 0 ? $"x-{random.Next(5)}" : $"j-{random.Next(20)}";
                jobs[id] = Job(id, tenant: $"t{id[^1] % 2}", priority: random.Next(5), gang: id.StartsWith('g'));
            }
            else if (what < 92 && jobs.Count > 0)
            {
                // Retention forgets a job, and says so.
                jobs.Remove(jobs.Keys.ElementAt(random.Next(jobs.Count)));
                table.JobsForgotten();
            }
            else if (what < 97)
            {
                // The host changed shape: the loop rebuilds its state and puts back what still fits.
                var old = node.State;
                node.State = ProtoMapping.ToState(node.Record);
                foreach (var allocation in old.Allocations.Values.Where(_ => random.Next(2) == 0))
                {
                    node.State.Allocate(allocation);
                }
            }
            else if (nodes.Count < 6)
            {
                AddNode(nodes, $"n{nodes.Count}");
            }

            table.Refresh();
            AssertAsFullBuild(table, nodes, JobOf, $"seed {seed}, step {step}");
        }
    }

    [Test]
    public void A_node_that_did_not_change_is_not_summed_again()
    {
        var nodes = new SortedDictionary<string, NodeEntry>(StringComparer.Ordinal);
        var jobs = new Dictionary<string, JobRecord>(StringComparer.Ordinal) { ["j-1"] = Job("j-1", "a", 1, gang: false) };
        var asked = 0;
        var table = new RunningJobs(nodes, id => { asked++; return jobs.GetValueOrDefault(id); }, TenantOf, Describe);
        var node = AddNode(nodes, "n0");
        node.State.Allocate(new Allocation("j-1", "n0", new ResourceRequest(500, 64), []));

        table.Refresh();
        Assert.That(asked, Is.EqualTo(1));
        table.Refresh();
        Assert.That(asked, Is.EqualTo(1), "nothing changed: no allocation read again");
        Assert.That(table.Usage["a"], Is.EqualTo(new ResourceTotals(500, 64, 0)));

        node.State.Release("j-1");
        table.Refresh();
        Assert.That(table.Usage, Is.Empty, "a tenant holding nothing has no entry");
    }

    private static void AssertAsFullBuild(RunningJobs table, SortedDictionary<string, NodeEntry> nodes, Func<string, JobRecord?> jobOf, string where)
    {
        var usage = new Dictionary<string, ResourceTotals>(StringComparer.Ordinal);
        var running = new Dictionary<string, RunningJob>(StringComparer.Ordinal);
        foreach (var entry in nodes.Values)
        {
            foreach (var allocation in entry.State.Allocations.Values)
            {
                if (jobOf(allocation.JobId) is { } job)
                {
                    running[allocation.JobId] = Describe(job, allocation.JobId);
                    usage[TenantOf(job)] = usage.GetValueOrDefault(TenantOf(job)) + ResourceTotals.Of(allocation.Resources);
                }
            }
        }

        Assert.That(table.Usage, Is.EquivalentTo(usage), $"{where}: usage");
        Assert.That(table.OrderBy(kv => kv.Key, StringComparer.Ordinal), Is.EqualTo(running.OrderBy(kv => kv.Key, StringComparer.Ordinal)), $"{where}: running jobs");
        foreach (var id in new[] { "j-0", "j-7", GangMembers.AgentId("g-1", 2), "x-3", "absent" })
        {
            Assert.That(table.TryGetValue(id, out var found), Is.EqualTo(running.ContainsKey(id)), $"{where}: {id} found");
            Assert.That(found, Is.EqualTo(running.GetValueOrDefault(id)), $"{where}: {id}");
        }
    }

    private static NodeEntry AddNode(SortedDictionary<string, NodeEntry> nodes, string id)
    {
        var record = new NodeRecord(id, id, 4000, 1024, [], new Dictionary<string, string>(), Cordoned: false, Draining: false, "test", "");
        var entry = new NodeEntry(record, ProtoMapping.ToState(record), Now);
        nodes[id] = entry;
        return entry;
    }

    private static string TenantOf(JobRecord job) => job.Spec.Tenant;

    private static RunningJob Describe(JobRecord job, string allocationId) =>
        new(allocationId, TenantOf(job), job.Priority, job.StartedAt ?? job.UpdatedAt) { GangId = job.IsGang ? job.Id : null };

    private static JobRecord Job(string id, string tenant, int priority, bool gang) => new()
    {
        Id = id,
        Sequence = 1,
        RequestId = $"r-{id}",
        Spec = new JobSpec { Command = "/bin/true", Tenant = tenant, Replicas = gang ? 3 : 1, Priority = priority + 1 },
        State = JobState.Running,
        HoldsAllocation = true,
        CreatedAt = Now,
        UpdatedAt = Now.AddSeconds(priority),
    };
}
