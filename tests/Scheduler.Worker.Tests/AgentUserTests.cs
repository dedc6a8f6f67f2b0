using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;

namespace Scheduler.Worker.Tests;

/// <summary>
/// Who agents run as (<c>--agent-user</c>) and who may read their folders. The folder modes are
/// checked as whatever user runs the tests; switching users needs root, and those tests say so
/// when they cannot run.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class AgentUserTests
{
    // Host users as name:uid (the tests' stand-in for the user database).
    private const string Dedicated = "scheduler-agent:990";
    private const string Nobody = "nobody:65534";

    private string _dir = null!;
    private AgentLauncher _launcher = null!;
    private AgentSupervisor? _supervisor;
    private Channel<AgentStatus> _events = null!;

    [SetUp]
    public void SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-agent-user-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
        _launcher = new AgentLauncher();
        _events = Channel.CreateUnbounded<AgentStatus>();
    }

    [TearDown]
    public async Task TearDown()
    {
        if (_supervisor is { } supervisor)
        {
            supervisor.Fence("test teardown");
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (supervisor.LiveCount > 0 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(20);
            }
        }

        _launcher.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    public static IEnumerable<TestCaseData> Settings()
    {
        static TestCaseData Case(string? setting, uint workerUid, bool canSwitch, string[] users, string? expected) =>
            new TestCaseData(setting, workerUid, canSwitch, users, expected);

        yield return Case("off", 0, true, [Dedicated, Nobody], null).SetName("Off_runs_agents_as_the_worker_even_as_root");
        yield return Case("auto", 1000, true, [Dedicated, Nobody], null).SetName("Auto_as_a_plain_user_runs_agents_as_that_user");
        yield return Case("nobody", 0, true, [Dedicated, Nobody], "nobody").SetName("A_named_user_is_used_as_root");
        yield return Case("root", 0, true, ["root:0"], null).SetName("Naming_root_switches_nothing");
        yield return Case("alice", 1000, true, ["alice:1000"], null).SetName("Naming_the_worker_s_own_user_switches_nothing");
    }

    [TestCaseSource(nameof(Settings))]
    public void Agent_user_setting_resolves(string? setting, uint workerUid, bool canSwitch, string[] users, string? expected)
    {
        var (user, perAgent, error) = AgentUser.Resolve(setting, workerUid, canSwitch, name => Find(users, name));

        Assert.That(error, Is.Null);
        Assert.That(user?.Name, Is.EqualTo(expected));
        Assert.That(perAgent, Is.False);
    }

    [TestCase(null)]
    [TestCase("auto")]
    public void Auto_as_root_gives_each_agent_an_id_of_its_own(string? setting)
    {
        var (user, perAgent, error) = AgentUser.Resolve(setting, 0, true, name => Find([Dedicated, Nobody], name));

        Assert.That((user, perAgent, error), Is.EqualTo(((AgentUser?)null, true, (string?)null)));
    }

    [TestCase("2000000-2065535", 2000000u, 2065535u)]
    [TestCase("5-5", 5u, 5u)]
    public void Uid_range_parses(string text, uint first, uint last) =>
        Assert.That(AgentUidPool.ParseRange(text), Is.EqualTo((first, last, (string?)null)));

    [TestCase("0-10")]
    [TestCase("10-5")]
    [TestCase("10")]
    [TestCase("a-b")]
    [TestCase("1-4294967295")]
    public void A_bad_uid_range_is_refused_naming_the_flag(string text) =>
        Assert.That(AgentUidPool.ParseRange(text).Error, Does.StartWith($"--agent-uid-range '{text}'"));

    [Test]
    public void An_id_is_reused_only_after_its_agent_returned_it_and_no_process_runs_as_it()
    {
        var running = new HashSet<uint>();
        using var pool = new AgentUidPool(100, 101, Path.Combine(_dir, "uid-locks"), (_, _) => running.ToHashSet());
        var a = pool.Acquire(new AgentKey("a", 1));
        var b = pool.Acquire(new AgentKey("b", 1));

        Assert.That((a.Uid, a.Gid, b.Uid), Is.EqualTo((100u, 100u, 101u)));
        Assert.That(pool.Acquire(new AgentKey("a", 1)), Is.EqualTo(a), "a repeated start keeps its id");
        Assert.Throws<AgentStartException>(() => pool.Acquire(new AgentKey("c", 1)), "every id is held");

        running.Add(a.Uid);
        pool.Release(new AgentKey("a", 1));
        Assert.Throws<AgentStartException>(() => pool.Acquire(new AgentKey("c", 1)), "a process still runs as a's id");

        running.Clear();
        Assert.That(pool.Acquire(new AgentKey("c", 1)).Uid, Is.EqualTo(a.Uid));
    }

    [Test]
    public void Starts_in_quick_succession_share_one_scan_of_the_host_s_processes_and_a_returned_id_waits_for_a_newer_one()
    {
        var time = new FakeTimeProvider();
        var running = new HashSet<uint>();
        using var pool = new AgentUidPool(100, 102, Path.Combine(_dir, "uid-locks"), (_, _) => running.ToHashSet(), time);

        var a = pool.Acquire(new AgentKey("a", 1));
        pool.Acquire(new AgentKey("b", 1));
        pool.Acquire(new AgentKey("c", 1));
        Assert.That(pool.Scans, Is.EqualTo(1), "the later starts used the first's scan");

        // a's agent left a process behind as its id, and a is given back: the scan, older than that, does
        // not show the process, so the id is not handed out on it; a fresh scan, taken before refusing, does.
        running.Add(a.Uid);
        pool.Release(new AgentKey("a", 1));
        Assert.Throws<AgentStartException>(() => pool.Acquire(new AgentKey("d", 1)));
        Assert.That(pool.Scans, Is.EqualTo(2), "one fresh scan before refusing");

        // The process has gone: once the scan is old, the next start takes a fresh one and gets the id.
        running.Clear();
        time.Advance(AgentUidPool.ScanMaxAge);
        Assert.That(pool.Acquire(new AgentKey("d", 1)).Uid, Is.EqualTo(a.Uid));
        Assert.That(pool.Scans, Is.EqualTo(3));
    }

    [Test]
    public void The_host_scan_finds_the_ids_of_running_processes_within_the_range()
    {
        var self = Scheduler.Worker.Agents.Posix.EffectiveUserId;
        Assert.That(AgentUidPool.HostUsersIn(self, self), Is.EquivalentTo(new[] { self }), "this test runs as its own id");
        Assert.That(AgentUidPool.HostUsersIn(4_000_000_000, 4_000_000_010), Is.Empty);
    }

    [Test]
    public void Two_pools_on_one_host_never_hand_out_the_same_id_at_once()
    {
        var locks = Path.Combine(_dir, "uid-locks");
        using var first = new AgentUidPool(100, 101, locks, (_, _) => new HashSet<uint>());
        using var second = new AgentUidPool(100, 101, locks, (_, _) => new HashSet<uint>());

        var a = first.Acquire(new AgentKey("a", 1));
        var b = second.Acquire(new AgentKey("b", 1));

        Assert.That(b.Uid, Is.Not.EqualTo(a.Uid));
    }

    public static IEnumerable<TestCaseData> Refusals()
    {
        yield return new TestCaseData("auto", 0u, false, Array.Empty<string>(), "setpriv").SetName("Auto_as_root_without_setpriv_is_refused");
        yield return new TestCaseData("ghost", 0u, true, new[] { Nobody }, "ghost: no such user").SetName("An_unknown_user_is_refused");
        yield return new TestCaseData("nobody", 1000u, true, new[] { Nobody }, "needs the worker to run as root").SetName("Another_user_without_root_is_refused");
        yield return new TestCaseData("nobody", 0u, false, new[] { Nobody }, "setpriv").SetName("Switching_without_setpriv_is_refused");
    }

    [TestCaseSource(nameof(Refusals))]
    public void Agent_user_setting_that_cannot_be_honoured_is_refused_with_the_reason(string setting, uint workerUid, bool canSwitch, string[] users, string reason)
    {
        var (user, _, error) = AgentUser.Resolve(setting, workerUid, canSwitch, name => Find(users, name));

        Assert.That(user, Is.Null);
        Assert.That(error, Does.StartWith("--agent-user").And.Contain(reason));
    }

    [Test]
    public void Lookup_finds_this_host_s_users()
    {
        var root = AgentUser.Lookup("root");

        Assert.That(root, Is.EqualTo(new AgentUser("root", 0, 0)));
        Assert.That(AgentUser.Lookup("no-such-user-here"), Is.Null);
    }

    [Test]
    public async Task Agent_folders_are_private_and_the_folders_above_them_not_listable()
    {
        var supervisor = Start(user: null);
        var start = Shell("jm", "exit 0");

        await supervisor.StartAsync(start, new CheckpointStart(), CancellationToken.None);
        await NextAsync(s => s.State == AgentState.Exited);

        var agents = Path.Combine(_dir, "agents");
        var checkpoints = Path.Combine(_dir, "checkpoints");
        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(Path.Combine(agents, "jm", "1")), Is.EqualTo(AgentScratch.Private), "agents/JOB/ATTEMPT");
            Assert.That(File.GetUnixFileMode(Path.Combine(agents, "jm", "1", "work")), Is.EqualTo(AgentScratch.Private), "work/");
            Assert.That(File.GetUnixFileMode(Path.Combine(checkpoints, "jm", "1")), Is.EqualTo(AgentScratch.Private), "checkpoints/JOB/ATTEMPT");
            foreach (var above in new[] { agents, Path.Combine(agents, "jm"), checkpoints, Path.Combine(checkpoints, "jm") })
            {
                Assert.That(File.GetUnixFileMode(above), Is.EqualTo(AgentScratch.PassThrough), above);
            }
        });
    }

    [Test]
    public async Task As_root_an_agent_runs_as_the_agent_user_owns_its_folders_and_cannot_read_the_worker_s()
    {
        RequireRoot();
        var nobody = AgentUser.Lookup("nobody") ?? throw new IgnoreException("this host has no 'nobody' user");
        var supervisor = Start(nobody);
        var secret = Path.Combine(_dir, "secret");
        File.WriteAllText(secret, "worker only");
        File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var start = Shell("ju", $"id -u; id -g; echo home=$HOME; touch work-file \"$SCHEDULER_CHECKPOINT_DIR/state\" && echo wrote; cat {secret} || echo no-secret; ls {Path.Combine(_dir, "agents")} || echo no-listing");

        await supervisor.StartAsync(start, new CheckpointStart(), CancellationToken.None);
        var exited = await NextAsync(s => s.State == AgentState.Exited);

        var work = Path.Combine(_dir, "agents", "ju", "1", "work");
        var output = supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = "ju", Attempt = 1 }).Data.ToStringUtf8().Split('\n');
        Assert.Multiple(() =>
        {
            Assert.That(exited.ExitCode, Is.Zero, string.Join('\n', output));
            Assert.That(output[..5], Is.EqualTo(new[] { $"{nobody.Uid}", $"{nobody.Gid}", $"home={work}", "wrote", "no-secret" }));
            Assert.That(output, Does.Contain("no-listing"));
            Assert.That(Owner(work), Is.EqualTo(nobody.Uid));
            Assert.That(Owner(Path.Combine(work, "work-file")), Is.EqualTo(nobody.Uid));
            Assert.That(Owner(Path.Combine(_dir, "checkpoints", "ju", "1")), Is.EqualTo(nobody.Uid));
            Assert.That(Owner(Path.Combine(_dir, "agents", "ju", "1", "stdout.log")), Is.Zero, "the logs are opened by the worker, before the switch");
        });
    }

    [Test]
    public async Task As_root_an_agent_run_as_another_user_still_dies_with_the_worker()
    {
        RequireRoot();
        const string Python = "/usr/bin/python3";
        if (!File.Exists(Python))
        {
            Assert.Ignore($"{Python} is needed to read the agent's parent-death signal");
        }

        var nobody = AgentUser.Lookup("nobody") ?? throw new IgnoreException("this host has no 'nobody' user");
        var supervisor = Start(nobody);
        var start = new StartAgent { JobId = "jd", Attempt = 1, Command = Python };
        start.Args.Add(["-c", "import ctypes, os; s = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(s)); print(os.getuid(), s.value)"]);

        await supervisor.StartAsync(start, CancellationToken.None);
        await NextAsync(s => s.State == AgentState.Exited);

        // PR_GET_PDEATHSIG: changing credentials clears it, so setpriv must set it again after the switch.
        var output = supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = "jd", Attempt = 1 }).Data.ToStringUtf8().Trim();
        Assert.That(output, Is.EqualTo($"{nobody.Uid} 9"));
    }

    [Test]
    public async Task As_root_a_checkpoint_to_restore_from_is_handed_to_the_agent_user()
    {
        RequireRoot();
        var nobody = AgentUser.Lookup("nobody") ?? throw new IgnoreException("this host has no 'nobody' user");
        var supervisor = Start(nobody);
        var restore = Path.Combine(_dir, "restore", "from");
        Directory.CreateDirectory(Path.Combine(restore, "deep"));
        File.WriteAllText(Path.Combine(restore, "deep", "state.key"), "resumed");
        File.SetUnixFileMode(Path.Combine(restore, "deep", "state.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
        File.WriteAllText(Path.Combine(restore, CheckpointContract.CompleteFile), "");
        var start = Shell("jr", $"cat \"${CheckpointContract.RestoreDirVariable}/deep/state.key\"");

        await supervisor.StartAsync(start, new CheckpointStart(restore), CancellationToken.None);
        var exited = await NextAsync(s => s.State == AgentState.Exited);

        Assert.That(supervisor.ReadLogs(new FetchLogs { RequestId = "r", JobId = "jr", Attempt = 1 }).Data.ToStringUtf8(), Is.EqualTo("resumed"));
        Assert.That(exited.ExitCode, Is.Zero);
        Assert.That(Owner(Path.Combine(restore, "deep", "state.key")), Is.EqualTo(nobody.Uid));
    }

    [Test]
    public async Task As_root_an_id_goes_back_to_the_pool_only_after_everything_it_could_read_is_the_worker_s_again()
    {
        RequireRoot();
        using var pool = new AgentUidPool(2_100_000, 2_100_001, Path.Combine(_dir, "uid-locks"), AgentUidPool.HostUsersIn);
        _supervisor = new AgentSupervisor(_dir, "node-1", _launcher, TimeProvider.System, NullLogger.Instance, uids: pool);
        _supervisor.Changed += s => _events.Writer.TryWrite(s);
        var restore = Path.Combine(_dir, "restore", "from");
        Directory.CreateDirectory(restore);
        File.WriteAllText(Path.Combine(restore, "model.state"), "weights");
        File.WriteAllText(Path.Combine(restore, CheckpointContract.CompleteFile), "");
        var start = Shell("jb", $"touch work-file \"$SCHEDULER_CHECKPOINT_DIR/state\" && cat \"${CheckpointContract.RestoreDirVariable}/model.state\"");

        await _supervisor.StartAsync(start, new CheckpointStart(restore), CancellationToken.None);
        var exited = await NextAsync(s => s.State == AgentState.Exited);
        var uid = pool.Holding(new AgentKey("jb", 1))!.Uid;
        Assert.That(Owner(Path.Combine(restore, "model.state")), Is.EqualTo(uid), "the checkpoint was handed to the agent's id");

        _supervisor.Ack(new AgentKey("jb", 1));

        Assert.Multiple(() =>
        {
            Assert.That(exited.ExitCode, Is.Zero);
            Assert.That(pool.HeldCount, Is.Zero, "the id is back in the pool");
            Assert.That(Owner(Path.Combine(_dir, "agents", "jb", "1", "work", "work-file")), Is.Zero, "its work folder is the worker's again");
            Assert.That(Owner(Path.Combine(_dir, "checkpoints", "jb", "1", "state")), Is.Zero, "its checkpoint too");
            Assert.That(Owner(Path.Combine(restore, "model.state")), Is.Zero, "and the checkpoint it resumed from: the next agent given the id must not read it");
        });
    }

    private static AgentUser? Find(string[] users, string name) =>
        users.Select(u => u.Split(':')).Where(u => u[0] == name)
            .Select(u => new AgentUser(u[0], uint.Parse(u[1], System.Globalization.CultureInfo.InvariantCulture), uint.Parse(u[1], System.Globalization.CultureInfo.InvariantCulture)))
            .FirstOrDefault();

    private static void RequireRoot()
    {
        if (Scheduler.Worker.Agents.Posix.EffectiveUserId != 0)
        {
            Assert.Ignore("switching agents to another user needs the tests to run as root (they run as uid " + Scheduler.Worker.Agents.Posix.EffectiveUserId + ")");
        }

        if (!AgentLauncher.Supervised)
        {
            Assert.Ignore($"switching agents to another user needs {AgentLauncher.SetPriv}");
        }
    }

    private AgentSupervisor Start(AgentUser? user)
    {
        _supervisor = new AgentSupervisor(_dir, "node-1", _launcher, TimeProvider.System, NullLogger.Instance, user: user);
        _supervisor.Changed += s => _events.Writer.TryWrite(s);
        return _supervisor;
    }

    private static StartAgent Shell(string jobId, string script)
    {
        var start = new StartAgent { JobId = jobId, Attempt = 1, Command = "/bin/sh", Checkpointable = true };
        start.Args.Add(["-c", script]);
        return start;
    }

    private async Task<AgentStatus> NextAsync(Func<AgentStatus, bool> match)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var status = await _events.Reader.ReadAsync(timeout.Token);
            if (match(status))
            {
                return status;
            }
        }
    }

    private static uint Owner(string path)
    {
        using var stat = Process.Start(new ProcessStartInfo("stat", ["-c", "%u", path]) { RedirectStandardOutput = true })!;
        var uid = stat.StandardOutput.ReadToEnd().Trim();
        stat.WaitForExit();
        return uint.Parse(uid, System.Globalization.CultureInfo.InvariantCulture);
    }
}
