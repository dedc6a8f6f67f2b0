using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Tests;

/// <summary>What the worker writes into an agent's cgroup: its limits where the controllers are delegated, nothing where not.</summary>
[TestFixture]
public sealed class AgentCgroupsTests
{
    private string _root = null!;

    [SetUp]
    public void SetUp()
    {
        _root = Path.Combine(Path.GetTempPath(), "scheduler-cgroup-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void TearDown() => Directory.Delete(_root, recursive: true);

    [Test]
    public void Limits_are_the_jobs_requests_where_cpu_and_memory_are_delegated()
    {
        var cgroups = new AgentCgroups(_root, cpu: true, memory: true);

        var path = cgroups.CreateFor(new AgentKey("j-000007", 2), cpuMillis: 1500, memoryMib: 512);

        Assert.That(path, Is.EqualTo(Path.Combine(_root, "j-000007.2")));
        Assert.That(File.ReadAllText(Path.Combine(path!, "memory.max")), Is.EqualTo((512L * 1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        Assert.That(File.ReadAllText(Path.Combine(path!, "cpu.max")), Is.EqualTo("150000 100000"), "1.5 CPUs: 150 ms of every 100 ms period");
    }

    [Test]
    public void No_limits_are_written_where_the_controllers_are_not_delegated()
    {
        var path = new AgentCgroups(_root, cpu: false, memory: false).CreateFor(new AgentKey("j-000007", 1), 1500, 512);

        Assert.That(Directory.EnumerateFiles(path!), Is.Empty);
    }

    [Test]
    public void Without_a_cgroup_tree_agents_get_none()
    {
        Assert.That(new AgentCgroups(null, cpu: true, memory: true).CreateFor(new AgentKey("j-1", 1), 100, 64), Is.Null);
    }
}
