using Scheduler.Worker.Agents;
using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

[TestFixture]
public sealed class WorkerPartsTests
{
    [Test]
    public void Epoch_store_refuses_older_epochs_and_remembers_across_restarts()
    {
        var dir = Directory.CreateTempSubdirectory("scheduler-epoch").FullName;
        try
        {
            var store = new EpochStore(dir);
            Assert.That(store.Accept(3), Is.True);
            Assert.That(store.Accept(3), Is.True, "the same term keeps being obeyed");
            Assert.That(store.Accept(2), Is.False);

            var restarted = new EpochStore(dir);
            Assert.That(restarted.Highest, Is.EqualTo(3));
            Assert.That(restarted.Accept(2), Is.False);
            Assert.That(restarted.Accept(4), Is.True);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test]
    public void Command_resolver_follows_path_and_rejects_what_cannot_run()
    {
        Assert.That(CommandResolver.Resolve("sh", "/nonexistent:/bin:/usr/bin", "/"), Is.EqualTo("/bin/sh"));
        Assert.That(CommandResolver.Resolve("/bin/sh", "", "/"), Is.EqualTo("/bin/sh"));
        Assert.That(CommandResolver.Resolve("no-such-binary", "/bin:/usr/bin", "/"), Is.Null);
        var plain = Path.GetTempFileName();
        try
        {
            File.SetUnixFileMode(plain, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            Assert.That(CommandResolver.Resolve(plain, "", "/"), Is.Null, "not executable");
        }
        finally
        {
            File.Delete(plain);
        }

        Assert.That(CommandResolver.Resolve("", "/bin", "/"), Is.Null);
    }

    [Test]
    public void Labels_parse_and_a_bad_pair_is_named()
    {
        Assert.That(HostResources.ParseLabels("zone=a, rack=r1"), Is.EquivalentTo(new Dictionary<string, string> { ["zone"] = "a", ["rack"] = "r1" }));
        Assert.That(HostResources.ParseLabels(""), Is.Empty);
        Assert.That(() => HostResources.ParseLabels("zone=a,broken"), Throws.TypeOf<FormatException>().With.Message.Contains("'broken'"));
    }

    [Test]
    public void Host_resources_default_to_the_machine()
    {
        var options = new WorkerOptions();
        Assert.That(HostResources.CpuMillis(options), Is.EqualTo(Environment.ProcessorCount * 1000L));
        Assert.That(HostResources.MemoryMib(options), Is.GreaterThan(0));
        Assert.That(HostResources.MemoryMib(new WorkerOptions { MemoryMib = 512 }), Is.EqualTo(512));
    }
}
