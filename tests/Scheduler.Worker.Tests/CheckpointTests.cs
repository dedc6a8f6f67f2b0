using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using TestPosix = Scheduler.Tests.Common.Posix;

namespace Scheduler.Worker.Tests;

/// <summary>The agent checkpoint contract against real agents: the CounterAgent sample and shell scripts.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class CheckpointTests
{
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);
    private string _dir = null!;
    private string _ledger = null!;
    private AgentLauncher _launcher = null!;
    private AgentSupervisor _supervisor = null!;
    private AgentCheckpoints _checkpoints = null!;
    private Channel<AgentStatus> _events = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-worker-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _ledger = Path.Combine(_dir, "ledger");
        _launcher = new AgentLauncher();
        _supervisor = new AgentSupervisor(_dir, "node-1", _launcher, TimeProvider.System, NullLogger.Instance);
        _checkpoints = new AgentCheckpoints(_supervisor, new AppLevelCheckpointer(TimeProvider.System), NullLogger.Instance);
        _events = Channel.CreateUnbounded<AgentStatus>();
        _supervisor.Changed += s => _events.Writer.TryWrite(s);
    }

    [TearDown]
    public async Task TearDown()
    {
        // Fencing kills every agent by PID (group and process), whatever the test left behind.
        _supervisor.Fence("test teardown");
        await Eventually.TrueAsync(() => _supervisor.LiveCount == 0, "every agent to exit");
        _launcher.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task Live_checkpoint_completes_with_the_counter_and_the_agent_keeps_counting()
    {
        var key = await StartCounterAsync(attempt: 1, restoreDir: null);
        await Eventually.TrueAsync(() => Ledger().Count >= 3, "the counter to count");

        var result = await _checkpoints.RequestAsync(key, CheckpointMode.Live, Generous, CancellationToken.None);

        var stored = StoredCounter(result.Directory);
        Assert.That(result.Sequence, Is.EqualTo(1));
        Assert.That(result.Files, Is.EqualTo((string[])["COMPLETE", "counter"]));
        Assert.That(result.Bytes, Is.GreaterThan(0));
        Assert.That(stored, Is.GreaterThanOrEqualTo(3));
        await Eventually.TrueAsync(() => Ledger().Count > stored + 2, "the agent to keep counting after a live checkpoint");
    }

    [Test]
    public async Task Final_checkpoint_then_restore_continues_the_count_and_never_in_two_places()
    {
        var first = await StartCounterAsync(attempt: 1, restoreDir: null);
        await Eventually.TrueAsync(() => Ledger().Count >= 2, "the counter to count");
        var live = await _checkpoints.RequestAsync(first, CheckpointMode.Live, Generous, CancellationToken.None);

        var final = await _checkpoints.RequestAsync(first, CheckpointMode.Final, Generous, CancellationToken.None);
        var stored = StoredCounter(final.Directory);
        _supervisor.Stop(first, TimeSpan.FromSeconds(10), "final checkpoint taken");
        await NextAsync(s => s.JobId == first.JobId && s.Attempt == 1 && s.State == AgentState.Exited);

        Assert.That(final.Sequence, Is.EqualTo(live.Sequence + 1));
        Assert.That(Ledger()[^1], Is.EqualTo(stored), "after a final checkpoint the agent changed nothing");

        await StartCounterAsync(attempt: 2, restoreDir: final.Directory);
        await Eventually.TrueAsync(() => Ledger().Count >= stored + 3, "the resumed counter to count on");

        var ledger = Ledger();
        Assert.That(ledger, Is.EqualTo(Enumerable.Range(1, ledger.Count).Select(i => (long)i)),
            "one count from 1, resumed right after the checkpointed value, never two counters at once");
    }

    [Test]
    public async Task Checkpoint_of_an_agent_that_is_not_checkpointable_is_refused()
    {
        var key = new AgentKey("plain", 1);
        await _supervisor.StartAsync(Shell(key, "exec sleep 60"), CancellationToken.None);
        await NextAsync(s => s.State == AgentState.Running);

        var ex = await Assert.ThrowsAsync<CheckpointException>(() => _checkpoints.RequestAsync(key, CheckpointMode.Live, Generous, CancellationToken.None));

        Assert.That(ex!.Failure, Is.EqualTo(CheckpointFailure.NotCheckpointable));
        Assert.That(ex.Message, Does.Contain("plain").And.Contain("not checkpointable"));
    }

    [Test]
    public async Task Checkpoint_the_agent_never_completes_times_out_and_leaves_it_running()
    {
        var key = new AgentKey("stuck", 1);
        var script = $"trap '' USR1; touch \"${CheckpointContract.CheckpointDirVariable}/.ready\"; exec sleep 60";
        await _supervisor.StartAsync(Shell(key, script), new CheckpointStart(), CancellationToken.None);
        var running = await NextAsync(s => s.State == AgentState.Running);
        var ready = Path.Combine(_dir, "checkpoints", "stuck", "1", CheckpointContract.ReadyFile);
        await Eventually.TrueAsync(() => File.Exists(ready), "the agent to declare itself ready");

        var ex = await Assert.ThrowsAsync<CheckpointException>(() => _checkpoints.RequestAsync(key, CheckpointMode.Live, TimeSpan.FromSeconds(1), CancellationToken.None));

        Assert.That(ex!.Failure, Is.EqualTo(CheckpointFailure.TimedOut));
        Assert.That(ex.Message, Does.Contain("mark checkpoint 1 complete").And.Contain("within 1 s").And.Contain("left running"));
        Assert.That(TestPosix.IsAlive(running.Pid), Is.True);
        Assert.That(_supervisor.FindRunning(key), Is.Not.Null);
    }

    [Test]
    public async Task Checkpoint_of_an_agent_that_exits_instead_fails_at_once()
    {
        var key = new AgentKey("quitter", 1);
        var script = $"trap 'exit 3' USR1; touch \"${CheckpointContract.CheckpointDirVariable}/.ready\"; while true; do sleep 0.05; done";
        await _supervisor.StartAsync(Shell(key, script), new CheckpointStart(), CancellationToken.None);
        await NextAsync(s => s.State == AgentState.Running);

        var ex = await Assert.ThrowsAsync<CheckpointException>(() => _checkpoints.RequestAsync(key, CheckpointMode.Live, Generous, CancellationToken.None));

        Assert.That(ex!.Failure, Is.EqualTo(CheckpointFailure.AgentExited));
    }

    [Test]
    public async Task Only_checkpointable_agents_get_a_checkpoint_dir_and_the_job_cannot_forge_one()
    {
        const string Script = "echo \"ckpt=$SCHEDULER_CHECKPOINT_DIR restore=$SCHEDULER_RESTORE_DIR\"";
        var plain = Shell(new AgentKey("env-plain", 1), Script);
        plain.Env[CheckpointContract.CheckpointDirVariable] = "/forged";
        await _supervisor.StartAsync(plain, CancellationToken.None);
        await _supervisor.StartAsync(Shell(new AgentKey("env-ckpt", 1), Script), new CheckpointStart(), CancellationToken.None);
        await Eventually.TrueAsync(() => _supervisor.Snapshot().Count(s => s.State == AgentState.Exited) == 2, "both agents to exit");

        Assert.That(Stdout("env-plain"), Is.EqualTo("ckpt= restore=\n"));
        Assert.That(Stdout("env-ckpt"), Is.EqualTo($"ckpt={Path.Combine(_dir, "checkpoints", "env-ckpt", "1")} restore=\n"));
    }

    [Test]
    public async Task Start_to_resume_from_an_incomplete_checkpoint_fails_to_start()
    {
        var incomplete = Path.Combine(_dir, "incomplete");
        Directory.CreateDirectory(incomplete);

        await _supervisor.StartAsync(Shell(new AgentKey("resume", 2), "exit 0"), new CheckpointStart(incomplete), CancellationToken.None);

        var status = _supervisor.Snapshot().Single();
        Assert.That(status.State, Is.EqualTo(AgentState.FailedToStart));
        Assert.That(status.Message, Does.Contain("no complete checkpoint"));
    }

    private async Task<AgentKey> StartCounterAsync(int attempt, string? restoreDir)
    {
        var key = new AgentKey("counter", attempt);
        var start = new StartAgent { JobId = key.JobId, Attempt = attempt, Command = "dotnet" };
        start.Args.Add([Artifacts.CounterAgentDll, "20"]);
        start.Env["COUNTER_LEDGER"] = _ledger;
        await _supervisor.StartAsync(start, new CheckpointStart(restoreDir), CancellationToken.None);
        await NextAsync(s => s.JobId == key.JobId && s.Attempt == attempt && s.State == AgentState.Running);
        return key;
    }

    private List<long> Ledger() =>
        File.Exists(_ledger)
            ? File.ReadAllLines(_ledger).Where(l => l.Length > 0).Select(l => long.Parse(l, CultureInfo.InvariantCulture)).ToList()
            : [];

    private static long StoredCounter(string directory) =>
        long.Parse(File.ReadAllText(Path.Combine(directory, "counter")).Trim(), CultureInfo.InvariantCulture);

    private static StartAgent Shell(AgentKey key, string script)
    {
        var start = new StartAgent { JobId = key.JobId, Attempt = key.Attempt, Command = "/bin/sh" };
        start.Args.Add(["-c", script]);
        return start;
    }

    private string Stdout(string jobId) =>
        _supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = jobId, Attempt = 1, Stream = LogStream.Stdout }).Data.ToStringUtf8();

    private async Task<AgentStatus> NextAsync(Func<AgentStatus, bool> match)
    {
        using var timeout = new CancellationTokenSource(Generous);
        while (true)
        {
            var status = await _events.Reader.ReadAsync(timeout.Token);
            if (match(status))
            {
                return status;
            }
        }
    }
}
