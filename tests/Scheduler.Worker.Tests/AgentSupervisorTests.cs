using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Tests;

/// <summary>The supervisor against real agent processes (/bin/sh scripts).</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class AgentSupervisorTests
{
    private string _dir = null!;
    private AgentLauncher _launcher = null!;
    private AgentSupervisor _supervisor = null!;
    private Channel<AgentStatus> _events = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-worker-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _launcher = new AgentLauncher();
        _supervisor = new AgentSupervisor(_dir, "node-1", _launcher, TimeProvider.System, NullLogger.Instance);
        _events = Channel.CreateUnbounded<AgentStatus>();
        _supervisor.Changed += s => _events.Writer.TryWrite(s);
    }

    [TearDown]
    public async Task TearDown()
    {
        // Whatever a failed test left running is killed here, not leaked.
        _supervisor.Fence("test teardown");
        await Eventually(() => _supervisor.LiveCount == 0, "every agent to exit");
        _launcher.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task Agent_runs_with_its_environment_and_output_goes_to_its_log()
    {
        var start = Shell("j1", "echo \"$SCHEDULER_JOB_ID/$SCHEDULER_ATTEMPT/$SCHEDULER_NODE_ID gpus=$CUDA_VISIBLE_DEVICES x=$X\"; echo err >&2; exit 4");
        start.GpuUuids.Add(["GPU-a", "GPU-b"]);
        start.Env["X"] = "42";

        await _supervisor.StartAsync(start, CancellationToken.None);
        var exited = await NextAsync(s => s.State == AgentState.Exited);

        Assert.That(exited.ExitCode, Is.EqualTo(4));
        Assert.That(Logs("j1", LogStream.Stdout), Is.EqualTo("j1/1/node-1 gpus=GPU-a,GPU-b x=42\n"));
        Assert.That(Logs("j1", LogStream.Stderr), Is.EqualTo("err\n"));
    }

    [Test]
    public async Task Repeated_start_of_the_same_attempt_runs_one_process()
    {
        var counter = Path.Combine(_dir, "starts");
        var start = Shell("j2", $"echo started >> {counter}; exec sleep 30");

        await _supervisor.StartAsync(start, CancellationToken.None);
        await _supervisor.StartAsync(start, CancellationToken.None);
        await NextAsync(s => s.State == AgentState.Running);
        await Eventually(() => File.Exists(counter), "the agent to start");

        Assert.That(_supervisor.Snapshot(), Has.Count.EqualTo(1));
        Assert.That(File.ReadAllLines(counter), Has.Length.EqualTo(1));
    }

    [Test]
    public async Task Stop_kills_an_agent_that_ignores_SIGTERM_after_the_grace_period()
    {
        var ready = Path.Combine(_dir, "ready");
        await _supervisor.StartAsync(Shell("j3", $"trap '' TERM; touch {ready}; while true; do sleep 0.1; done"), CancellationToken.None);
        await Eventually(() => File.Exists(ready), "the agent to install its trap");

        _supervisor.Stop(new AgentKey("j3", 1), TimeSpan.FromMilliseconds(300), "test");
        var exited = await NextAsync(s => s.State == AgentState.Exited);

        Assert.That(exited.ExitCode, Is.EqualTo(128 + 9), "killed by SIGKILL");
        Assert.That(exited.Message, Does.Contain("stopped: test"));
    }

    [Test]
    public async Task Stop_with_grace_lets_a_cooperative_agent_exit_on_SIGTERM()
    {
        var ready = Path.Combine(_dir, "ready");
        await _supervisor.StartAsync(Shell("j4", $"trap 'exit 0' TERM; touch {ready}; while true; do sleep 0.1; done"), CancellationToken.None);
        await Eventually(() => File.Exists(ready), "the agent to install its trap");

        _supervisor.Stop(new AgentKey("j4", 1), TimeSpan.FromSeconds(20), "test");
        var exited = await NextAsync(s => s.State == AgentState.Exited);

        Assert.That(exited.ExitCode, Is.Zero);
    }

    [Test]
    public async Task Fence_kills_every_live_agent_and_marks_it_fenced()
    {
        await _supervisor.StartAsync(Shell("j5", "exec sleep 30"), CancellationToken.None);
        await _supervisor.StartAsync(Shell("j6", "exec sleep 30"), CancellationToken.None);
        await Eventually(() => _supervisor.Snapshot().Count(s => s.State == AgentState.Running) == 2, "both agents to run");

        _supervisor.Fence("lost the master");

        await Eventually(() => _supervisor.LiveCount == 0, "both agents to die");
        Assert.That(_supervisor.Snapshot(), Has.All.Matches<AgentStatus>(s => s!.Fenced && s.State == AgentState.Exited));
    }

    [Test]
    public async Task Missing_command_or_working_dir_fails_to_start_with_a_message()
    {
        var noCommand = Shell("j7", "");
        noCommand.Command = "no-such-agent-binary";
        var noDir = Shell("j8", "exit 0");
        noDir.WorkingDir = "/nonexistent/dir";

        await _supervisor.StartAsync(noCommand, CancellationToken.None);
        await _supervisor.StartAsync(noDir, CancellationToken.None);

        var statuses = _supervisor.Snapshot().ToDictionary(s => s.JobId);
        Assert.That(statuses["j7"].State, Is.EqualTo(AgentState.FailedToStart));
        Assert.That(statuses["j7"].Message, Does.Contain("no-such-agent-binary"));
        Assert.That(statuses["j8"].State, Is.EqualTo(AgentState.FailedToStart));
        Assert.That(statuses["j8"].Message, Does.Contain("working_dir"));
    }

    [Test]
    public async Task Logs_return_the_tail_and_say_when_truncated()
    {
        await _supervisor.StartAsync(Shell("j9", "printf 'abcdefghij'"), CancellationToken.None);
        await NextAsync(s => s.State == AgentState.Exited);

        var tail = _supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = "j9", Attempt = 1, TailBytes = 4 });
        var all = _supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = "j9", Attempt = 1, TailBytes = 100 });
        var missing = _supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = "j9", Attempt = 2 });
        var escape = _supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = "..", Attempt = 1 });

        Assert.That((tail.Found, tail.Truncated, tail.Data.ToStringUtf8()), Is.EqualTo((true, true, "ghij")));
        Assert.That((all.Truncated, all.Data.ToStringUtf8()), Is.EqualTo((false, "abcdefghij")));
        Assert.That(missing.Found, Is.False);
        Assert.That(escape.Found, Is.False);
    }

    [Test]
    public async Task Acknowledged_exit_is_forgotten_but_a_live_agent_is_not()
    {
        await _supervisor.StartAsync(Shell("j10", "exit 0"), CancellationToken.None);
        await _supervisor.StartAsync(Shell("j11", "exec sleep 30"), CancellationToken.None);
        await NextAsync(s => s.JobId == "j10" && s.State == AgentState.Exited);

        _supervisor.Ack(new AgentKey("j10", 1));
        _supervisor.Ack(new AgentKey("j11", 1));

        Assert.That(_supervisor.Snapshot().Select(s => s.JobId), Is.EqualTo((string[])["j11"]));
    }

    private static StartAgent Shell(string jobId, string script)
    {
        var start = new StartAgent { JobId = jobId, Attempt = 1, Command = "/bin/sh" };
        start.Args.Add(["-c", script]);
        return start;
    }

    private string Logs(string jobId, LogStream stream) =>
        _supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = jobId, Attempt = 1, Stream = stream }).Data.ToStringUtf8();

    private async Task<AgentStatus> NextAsync(Func<AgentStatus, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var status = await _events.Reader.ReadAsync(timeout.Token);
            if (match(status))
            {
                return status;
            }
        }
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(20);
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
