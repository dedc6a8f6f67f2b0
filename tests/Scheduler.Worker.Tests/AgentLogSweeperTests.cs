using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Worker.Agents;

namespace Scheduler.Worker.Tests;

/// <summary>Log rotation and folder retention against real agent processes and real files, on a fake clock.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class AgentLogSweeperTests
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Retention = TimeSpan.FromHours(168);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private string _dir = null!;
    private FakeTimeProvider _time = null!;
    private AgentLauncher _launcher = null!;
    private AgentSupervisor _supervisor = null!;
    private AgentLogSweeper? _sweeper;
    private Channel<AgentStatus> _events = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-worker-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);

        // Starts at the real time: the files the agents write carry real modification times.
        _time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        _launcher = new AgentLauncher();
        _supervisor = new AgentSupervisor(_dir, "node-1", _launcher, _time, NullLogger.Instance);
        _events = Channel.CreateUnbounded<AgentStatus>();
        _supervisor.Changed += s => _events.Writer.TryWrite(s);
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_sweeper is not null)
        {
            await _sweeper.DisposeAsync();
        }

        // Every agent a test started is killed here, whatever the test did.
        _supervisor.Fence("test teardown");
        await Eventually.TrueAsync(() => _supervisor.LiveCount == 0, "every agent to exit", Deadline);
        _launcher.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task A_live_agent_past_the_limit_is_rotated_on_the_timer_and_keeps_writing()
    {
        const int MaxBytes = 2000;
        _sweeper = Sweeper(maxLogBytes: MaxBytes);
        _sweeper.Start();
        await StartAsync("writer", "i=0; while true; do i=$((i+1)); echo \"line $i\"; sleep 0.01; done");
        var log = LogPath("writer", "stdout.log");
        await Eventually.TrueAsync(() => new FileInfo(log).Length > MaxBytes, "the agent to write past the limit", Deadline);

        _time.Advance(Interval);
        await Eventually.TrueAsync(() => File.Exists(log + ".1"), "the sweep to rotate the log", Deadline);
        // The first line may be cut (only the newest bytes are kept); the rest is whole and in order.
        var rotated = File.ReadAllLines(log + ".1").Skip(1).Select(LineNumber).ToArray();
        var lastRotated = rotated[^1];
        await Eventually.TrueAsync(
            () => ReadLines(log).Any(l => LineNumber(l) > lastRotated), "the agent to go on writing into the live file", Deadline);

        var live = File.ReadAllText(log);
        Assert.That(live, Does.StartWith("line "), "appends go on at the new end, without a hole of zeros before them");
        Assert.That(new FileInfo(log + ".1").Length, Is.LessThanOrEqualTo(MaxBytes + 200), "only the newest part is kept");
        Assert.That(rotated, Is.EqualTo(Enumerable.Range(rotated[0], rotated.Length)), "the rotated part is the log's contiguous tail");
        Assert.That(_supervisor.Snapshot().Single().State, Is.EqualTo(AgentState.Running));
    }

    [Test]
    public async Task Logs_tail_reads_across_a_rotation()
    {
        var go = Path.Combine(_dir, "go");
        _sweeper = Sweeper(maxLogBytes: 4);
        await StartAsync("rotated", $"printf abcdef; while [ ! -f {go} ]; do sleep 0.05; done; printf XYZ");
        var log = LogPath("rotated", "stdout.log");
        await Eventually.TrueAsync(() => File.Exists(log) && new FileInfo(log).Length == 6, "the agent's first output", Deadline);

        var result = _sweeper.Sweep();
        await File.WriteAllTextAsync(go, "");
        await NextAsync(s => s.State == AgentState.Exited);

        var shortTail = Logs("rotated", 5);
        var longTail = Logs("rotated", 100);
        Assert.That(result.Rotated, Is.EqualTo(1));
        Assert.That(File.ReadAllText(log + ".1"), Is.EqualTo("cdef"));
        Assert.That((shortTail.Data.ToStringUtf8(), shortTail.Truncated), Is.EqualTo(("efXYZ", true)));
        Assert.That(longTail.Data.ToStringUtf8(), Is.EqualTo("cdefXYZ"));
    }

    [Test]
    public async Task An_acknowledged_agent_folder_is_deleted_once_quiet_past_retention()
    {
        _sweeper = Sweeper(retention: Retention);
        await RunToAckAsync("old");

        _time.Advance(Retention + TimeSpan.FromHours(1));
        var result = _sweeper.Sweep();

        Assert.That(result.Deleted, Is.EqualTo(1));
        Assert.That(Directory.Exists(Path.Combine(_supervisor.AgentsRoot, "old")), Is.False, "the empty job folder goes too");
    }

    [Test]
    public async Task Recent_live_and_unacknowledged_agent_folders_are_kept()
    {
        _sweeper = Sweeper(retention: Retention);
        await StartAsync("live", "exec sleep 60");
        await NextAsync(s => s.JobId == "live" && s.State == AgentState.Running);
        await StartAsync("unacknowledged", "exit 3");
        await NextAsync(s => s.JobId == "unacknowledged" && s.State == AgentState.Exited);
        _time.Advance(Retention);
        await RunToAckAsync("recent");

        _time.Advance(TimeSpan.FromHours(2));
        var result = _sweeper.Sweep();

        Assert.That(result.Deleted, Is.Zero);
        Assert.That(new[] { "live", "unacknowledged", "recent" }.Where(j => !Directory.Exists(AgentPath(j))), Is.Empty);
    }

    [Test]
    public async Task Retention_removes_links_without_following_them_out_of_the_agents_folder()
    {
        var outside = Path.Combine(_dir, "outside");
        Directory.CreateDirectory(Path.Combine(outside, "1"));
        await File.WriteAllTextAsync(Path.Combine(outside, "1", "keep.txt"), "precious");
        _sweeper = Sweeper(retention: Retention);
        await RunToAckAsync("linked", $"ln -s {outside} \"$SCHEDULER_AGENT_DIR/work/out\"");
        Directory.CreateSymbolicLink(Path.Combine(_supervisor.AgentsRoot, "job-link"), outside);

        _time.Advance(Retention + TimeSpan.FromHours(1));
        var result = _sweeper.Sweep();

        Assert.That(result.Deleted, Is.EqualTo(1));
        Assert.That(Directory.Exists(AgentPath("linked")), Is.False);
        Assert.That(File.ReadAllText(Path.Combine(outside, "1", "keep.txt")), Is.EqualTo("precious"));
    }

    private AgentLogSweeper Sweeper(long maxLogBytes = 0, TimeSpan retention = default) =>
        new(_supervisor, new AgentLogPolicy(maxLogBytes, retention, Interval), _time, NullLogger.Instance);

    private async Task StartAsync(string jobId, string script)
    {
        var start = new StartAgent { JobId = jobId, Attempt = 1, Command = "/bin/sh" };
        start.Args.Add(["-c", script]);
        await _supervisor.StartAsync(start, CancellationToken.None);
    }

    /// <summary>Runs an agent to its exit and acknowledges it, as the master does once it recorded the exit.</summary>
    private async Task RunToAckAsync(string jobId, string script = "echo done")
    {
        await StartAsync(jobId, script);
        await NextAsync(s => s.JobId == jobId && s.State == AgentState.Exited);
        _supervisor.Ack(new AgentKey(jobId, 1));
    }

    private LogsReply Logs(string jobId, int tailBytes) =>
        _supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = jobId, Attempt = 1, TailBytes = tailBytes });

    private string AgentPath(string jobId) => Path.Combine(_supervisor.AgentsRoot, jobId, "1");

    private string LogPath(string jobId, string name) => Path.Combine(AgentPath(jobId), name);

    private static string[] ReadLines(string path) =>
        Encoding.UTF8.GetString(LogTail.Read(path, 1 << 20)?.Data ?? []).Split('\n', StringSplitOptions.RemoveEmptyEntries);

    private static int LineNumber(string line) =>
        line.StartsWith("line ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(5), out var n) ? n : -1;

    private async Task<AgentStatus> NextAsync(Func<AgentStatus, bool> match)
    {
        using var timeout = new CancellationTokenSource(Deadline);
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
