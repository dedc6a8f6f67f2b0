using System.Collections.Concurrent;
using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Tests;

/// <summary>
/// A start waiting behind a slow launch in the launcher every node of a worker shares, then stopped or
/// fenced: never launched, reported FAILED_TO_START, so a fenced EXITED report always means its process ran.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class QueuedStartTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private ConcurrentQueue<string> _forked = null!;
    private ConcurrentQueue<AgentStatus> _events = null!;
    private string _dir = null!;
    private string _ledger = null!;
    private SemaphoreSlim _gate = null!;
    private TaskCompletionSource _slowLaunchBegun = null!;
    private AgentLauncher _launcher = null!;
    private AgentSupervisor _supervisor = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-queued-start-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _ledger = Path.Combine(_dir, "ledger");
        _gate = new SemaphoreSlim(0);
        _forked = new ConcurrentQueue<string>();
        _events = new ConcurrentQueue<AgentStatus>();
        _slowLaunchBegun = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // The first fork is held (a slow launch) until the test lets it go; every fork is recorded.
        _launcher = new AgentLauncher(process =>
        {
            _forked.Enqueue(process.StartInfo.Environment["SCHEDULER_JOB_ID"]!);
            if (_forked.Count == 1)
            {
                _slowLaunchBegun.TrySetResult();
                _gate.Wait(Deadline);
            }

            process.Start();
        });
        _supervisor = new AgentSupervisor(_dir, "node-1", _launcher, TimeProvider.System, NullLogger.Instance);
        _supervisor.Changed += _events.Enqueue;
    }

    [TearDown]
    public async Task TearDown()
    {
        // Whatever a failed test left running is killed here, not leaked.
        _gate.Release();
        _supervisor.Fence("test teardown");
        await Eventually.TrueAsync(() => _supervisor.LiveCount == 0, "every agent to exit", Deadline);
        _launcher.Dispose();
        _gate.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task A_start_fenced_while_it_waits_for_the_launcher_is_never_launched_and_is_reported_failed_to_start()
    {
        var slow = _supervisor.StartAsync(Agent("slow"), CancellationToken.None);
        var queued = _supervisor.StartAsync(Agent("queued"), CancellationToken.None);
        await _slowLaunchBegun.Task.WaitAsync(Deadline);

        _supervisor.Fence("no contact with the master for 9.0s");
        _gate.Release();
        await Task.WhenAll(slow, queued).WaitAsync(Deadline);
        await Eventually.TrueAsync(() => _supervisor.LiveCount == 0, "both agents to end", Deadline);

        AssertNeverLaunched("queued");
        var status = Final("queued");
        Assert.That((status.State, status.Fenced, status.Pid), Is.EqualTo((AgentState.FailedToStart, true, 0)));
        Assert.That(status.Message, Does.Contain("not started").And.Contain("no contact with the master"));

        // The start already being forked when the fence came did run: it is killed at once, EXITED and fenced.
        var ran = Final("slow");
        Assert.That((ran.State, ran.Fenced, ran.Pid > 0), Is.EqualTo((AgentState.Exited, true, true)));
    }

    [Test]
    public async Task A_start_stopped_while_it_waits_for_the_launcher_is_never_launched_and_is_reported_failed_to_start()
    {
        var slow = _supervisor.StartAsync(Agent("slow"), CancellationToken.None);
        var queued = _supervisor.StartAsync(Agent("queued"), CancellationToken.None);
        await _slowLaunchBegun.Task.WaitAsync(Deadline);

        _supervisor.Stop(new AgentKey("queued", 1), TimeSpan.FromSeconds(5), "cancelled by user");
        _gate.Release();
        await Task.WhenAll(slow, queued).WaitAsync(Deadline);
        await Eventually.TrueAsync(() => File.Exists(_ledger) && File.ReadAllText(_ledger).Contains("slow", StringComparison.Ordinal), "the slow agent to run", Deadline);

        AssertNeverLaunched("queued");
        var status = Final("queued");
        Assert.That((status.State, status.Fenced, status.Pid), Is.EqualTo((AgentState.FailedToStart, false, 0)));
        Assert.That(status.Message, Does.Contain("stopped: cancelled by user"));
        Assert.That(_supervisor.Snapshot().Single(s => s.JobId == "slow").State, Is.EqualTo(AgentState.Running), "the start before it is not held back");
    }

    [Test]
    public async Task A_start_is_prepared_on_the_launcher_not_by_its_caller_so_the_commands_after_it_are_not_held_back()
    {
        var slow = _supervisor.StartAsync(Agent("slow"), CancellationToken.None);
        await _slowLaunchBegun.Task.WaitAsync(Deadline);

        // The caller (the stream's reader) gets control back at once; the agent's folders, cgroup and
        // user are made only once the launcher reaches it, after the slow launch ahead of it.
        var queued = _supervisor.StartAsync(Agent("queued"), CancellationToken.None);
        Assert.That(queued.IsCompleted, Is.False, "waits for the launcher");
        Assert.That(Directory.Exists(Path.Combine(_dir, "agents", "queued")), Is.False, "nothing prepared by the caller");
        Assert.That(_supervisor.Snapshot().Single(s => s.JobId == "queued").State, Is.EqualTo(AgentState.Starting), "registered at once: a stop finds it");

        _gate.Release();
        await Task.WhenAll(slow, queued).WaitAsync(Deadline);
        await Eventually.TrueAsync(() => File.Exists(_ledger) && File.ReadAllLines(_ledger).Contains("queued"), "the queued agent to run", Deadline);
        Assert.That(Directory.Exists(Path.Combine(_dir, "agents", "queued")), Is.True);
    }

    /// <summary>No fork, no line in the ledger, and no report that it ran.</summary>
    private void AssertNeverLaunched(string jobId)
    {
        Assert.That(_forked, Does.Not.Contain(jobId), "never handed to fork");
        Assert.That(File.Exists(_ledger) ? File.ReadAllLines(_ledger) : [], Does.Not.Contain(jobId), "its command never ran");
        Assert.That(_events.Where(s => s.JobId == jobId).Select(s => s.State), Has.None.EqualTo(AgentState.Running).And.None.EqualTo(AgentState.Exited));
    }

    private AgentStatus Final(string jobId) => _supervisor.Snapshot().Single(s => s.JobId == jobId);

    /// <summary>An agent that writes its name to the ledger, then runs until stopped.</summary>
    private StartAgent Agent(string jobId)
    {
        var start = new StartAgent { JobId = jobId, Attempt = 1, Command = "/bin/sh" };
        start.Args.Add(["-c", $"echo {jobId} >> '{_ledger}'; exec sleep 60"]);
        return start;
    }
}
