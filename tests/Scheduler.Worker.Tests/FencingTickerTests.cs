using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

/// <summary>One shared timer fences the agents of every node of a process, as each node's own timer did.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class FencingTickerTests
{
    private string _dir = null!;
    private AgentLauncher _launcher = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-worker-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _launcher = new AgentLauncher();
    }

    [TearDown]
    public void TearDown()
    {
        _launcher.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task A_shared_ticker_fences_each_silent_node_and_spares_the_one_in_contact()
    {
        var time = new FakeTimeProvider();
        await using var ticker = new FencingTicker(time);
        var silent = new[] { Node("sim-000", time), Node("sim-001", time) };
        var inContact = Node("sim-002", time);
        var all = silent.Append(inContact).ToArray();
        try
        {
            foreach (var (agents, watchdog) in all)
            {
                await agents.StartAsync(Sleeper(), CancellationToken.None);
                watchdog.FenceAfter = TimeSpan.FromSeconds(3);
                watchdog.Start(ticker);
            }

            await Eventually(() => all.All(n => n.Agents.LiveCount == 1), "every agent to run");
            time.Advance(TimeSpan.FromSeconds(2));
            inContact.Watchdog.MarkContact(time.GetTimestamp());
            time.Advance(TimeSpan.FromSeconds(2));
            ticker.TickAll();

            await Eventually(() => silent.All(n => n.Agents.LiveCount == 0), "the silent nodes' agents to be fenced");
            Assert.That(silent.SelectMany(n => n.Agents.Snapshot()), Has.All.Matches<AgentStatus>(s => s!.Fenced));
            Assert.That(inContact.Agents.LiveCount, Is.EqualTo(1), "a node the master heard from keeps its agent");
        }
        finally
        {
            foreach (var (agents, watchdog) in all)
            {
                await watchdog.DisposeAsync();
                agents.Fence("test teardown");
                await Eventually(() => agents.LiveCount == 0, "every agent to exit");
            }
        }
    }

    [Test]
    public async Task A_stopped_watchdog_is_no_longer_ticked()
    {
        var time = new FakeTimeProvider();
        await using var ticker = new FencingTicker(time);
        var (agents, watchdog) = Node("sim-000", time);
        try
        {
            await agents.StartAsync(Sleeper(), CancellationToken.None);
            await Eventually(() => agents.LiveCount == 1, "the agent to run");
            watchdog.FenceAfter = TimeSpan.FromSeconds(3);
            watchdog.Start(ticker);
            await watchdog.StopAsync(CancellationToken.None);

            time.Advance(TimeSpan.FromSeconds(4));
            ticker.TickAll();

            Assert.That(agents.LiveCount, Is.EqualTo(1));
        }
        finally
        {
            await watchdog.DisposeAsync();
            agents.Fence("test teardown");
            await Eventually(() => agents.LiveCount == 0, "every agent to exit");
        }
    }

    private (AgentSupervisor Agents, FencingWatchdog Watchdog) Node(string nodeId, TimeProvider time)
    {
        var dataDir = Path.Combine(_dir, nodeId);
        Directory.CreateDirectory(dataDir);
        var agents = new AgentSupervisor(dataDir, nodeId, _launcher, TimeProvider.System, NullLogger.Instance);
        return (agents, new FencingWatchdog(nodeId, agents, null, time));
    }

    private static StartAgent Sleeper()
    {
        var start = new StartAgent { JobId = "j1", Attempt = 1, Command = "/bin/sh" };
        start.Args.Add(["-c", "exec sleep 300"]);
        return start;
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}");
            }

            await Task.Delay(20);
        }
    }
}
