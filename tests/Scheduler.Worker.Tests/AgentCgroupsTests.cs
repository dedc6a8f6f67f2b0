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
    public void The_shared_parent_is_asked_to_delegate_controllers_once_per_process_not_once_per_node()
    {
        var subtreeControl = Path.Combine(_root, "cgroup.subtree_control");

        Assert.That(AgentCgroups.DelegateOnce(subtreeControl), Is.True);
        Assert.That(File.ReadAllText(subtreeControl), Is.EqualTo("+cpu +memory"));
        File.WriteAllText(subtreeControl, "untouched");
        Assert.That(AgentCgroups.DelegateOnce(subtreeControl), Is.True, "the first answer again");

        Assert.That(File.ReadAllText(subtreeControl), Is.EqualTo("untouched"), "not written again");
    }

    [Test]
    public void A_stopping_worker_removes_its_empty_folder_of_agent_cgroups_and_keeps_one_an_agent_is_still_in()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_root, "node-a")).FullName;
        var busy = Directory.CreateDirectory(Path.Combine(_root, "node-b")).FullName;
        Directory.CreateDirectory(Path.Combine(busy, "j-000001.1"));

        new AgentCgroups(empty, cpu: false, memory: false).RemoveRoot();
        new AgentCgroups(busy, cpu: false, memory: false).RemoveRoot();
        new AgentCgroups(null, cpu: false, memory: false).RemoveRoot();

        Assert.That(Directory.Exists(empty), Is.False);
        Assert.That(Directory.Exists(Path.Combine(busy, "j-000001.1")), Is.True);
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
