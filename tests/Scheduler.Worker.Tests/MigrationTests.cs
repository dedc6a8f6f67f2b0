using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Link;
using Scheduler.Worker.Migration;
using TestPosix = Scheduler.Tests.Common.Posix;

namespace Scheduler.Worker.Tests;

/// <summary>
/// Live migration between two worker stacks in this process (real agents, real transfer servers on
/// loopback), commanded through each node's dispatcher as the master would.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed partial class MigrationTests
{
    private const string Job = "counter";
    private const string Token = "migration-token";
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(60);

    private string _dir = null!;
    private string _ledger = null!;
    private AgentLauncher _launcher = null!;
    private MigrationNode _source = null!;
    private MigrationNode _target = null!;
    private TcpListener? _blackHole;

    [SetUp]
    public async Task SetUp()
    {
        _dir = Path.Combine(Path.GetTempPath(), "scheduler-migration-tests", Guid.NewGuid().ToString("N"));
        _ledger = Path.Combine(_dir, "ledger");
        _launcher = new AgentLauncher();
        var quick = new MigrationSourceOptions
        {
            RoundTimeout = TimeSpan.FromSeconds(20),
            CheckpointTimeout = TimeSpan.FromSeconds(2),
            ConnectTimeout = TimeSpan.FromSeconds(3),
        };
        _source = await MigrationNode.StartAsync("source", Path.Combine(_dir, "source"), _launcher, CancellationToken.None, quick);
        _target = await MigrationNode.StartAsync("target", Path.Combine(_dir, "target"), _launcher, CancellationToken.None, quick);
    }

    [TearDown]
    public async Task TearDown()
    {
        _blackHole?.Dispose();
        await _source.DisposeAsync();
        await _target.DisposeAsync();
        _launcher.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task Migrated_counter_resumes_on_the_target_and_never_counts_in_two_places(CancellationToken ct)
    {
        var running = await StartCounterAsync(_source, attempt: 1, ct);
        await Eventually.TrueAsync(() => Ledger().Count >= 3, "the counter to count on the source");
        await _target.HandleAsync(Expect("m-1", Token), ct);

        await _source.HandleAsync(Migrate("m-1", attempt: 1, _target.TransferAddress, Token), ct);
        var report = (await _source.SentAsync(m => m.MigrationReport is not null, Generous)).MigrationReport;
        var exit = await _source.EventAsync(s => s.Attempt == 1 && s.State == AgentState.Exited, Generous);

        Assert.That(report.Error, Is.Empty);
        Assert.That(report.Ok, Is.True);
        Assert.That(report.Rounds, Is.GreaterThanOrEqualTo(1));
        Assert.That(report.BytesSent, Is.GreaterThan(0));
        Assert.That(report.StoppedAt, Is.Not.Null);
        Assert.That(report.SourceStopped, Is.False);
        Assert.That(exit.Migrated, Is.True, "the source's exit says the job moved");
        Assert.That(TestPosix.IsAlive(running.Pid), Is.False);
        Assert.That(_source.SourceLog, Has.One.Match(
            $@"^Migrated counter#1 to {_target.TransferAddress.Replace(".", @"\.", StringComparison.Ordinal)} \(migration m-1\): {report.Rounds} rounds, [0-9]+\.[0-9] MiB, agent stopped for [0-9]+ ms before commit$"));

        var restore = Path.Combine(_target.DataDir, "restore", "m-1");
        Assert.That(File.Exists(Path.Combine(restore, CheckpointContract.CompleteFile)), Is.True, "the checkpoint is committed on the target");
        var stored = long.Parse(File.ReadAllText(Path.Combine(restore, "counter")).Trim(), CultureInfo.InvariantCulture);
        Assert.That(Ledger()[^1], Is.EqualTo(stored), "the source counted nothing after its final checkpoint");

        var resume = Counter(attempt: 2);
        resume.RestoreMigration = "m-1";
        await _target.HandleAsync(new MasterCommand { Start = resume }, ct);
        await _target.EventAsync(s => s.Attempt == 2 && s.State == AgentState.Running, Generous);
        await Eventually.TrueAsync(() => Ledger().Count >= stored + 3, "the counter to count on the target");

        var ledger = Ledger();
        Assert.That(ledger, Is.EqualTo(Enumerable.Range(1, ledger.Count).Select(i => (long)i)),
            "one count from 1, resumed right after the checkpointed value, never two counters at once");
    }

    [Test]
    public async Task Migration_to_an_unreachable_target_fails_and_the_agent_keeps_running(CancellationToken ct)
    {
        await StartCounterAsync(_source, attempt: 1, ct);
        var nobody = UnusedLoopbackAddress();

        await _source.HandleAsync(Migrate("m-2", attempt: 1, nobody, Token), ct);
        var report = (await _source.SentAsync(m => m.MigrationReport is not null, Generous)).MigrationReport;

        Assert.That(report.Ok, Is.False);
        Assert.That(report.SourceStopped, Is.False);
        Assert.That(report.Error, Does.Contain("Unavailable"));
        await AssertStillCountingAsync(attempt: 1);
    }

    [Test]
    public async Task Migration_with_a_token_the_target_did_not_allow_fails_and_the_agent_keeps_running(CancellationToken ct)
    {
        await StartCounterAsync(_source, attempt: 1, ct);
        await _target.HandleAsync(Expect("m-3", "the-right-token"), ct);

        await _source.HandleAsync(Migrate("m-3", attempt: 1, _target.TransferAddress, "a-wrong-token"), ct);
        var report = (await _source.SentAsync(m => m.MigrationReport is not null, Generous)).MigrationReport;

        Assert.That(report.Ok, Is.False);
        Assert.That(report.SourceStopped, Is.False);
        Assert.That(report.Error, Does.Contain("PermissionDenied"));
        await AssertStillCountingAsync(attempt: 1);
        Assert.That(Directory.Exists(Path.Combine(_target.DataDir, "restore", "m-3")), Is.False);
    }

    [Test]
    public async Task Failure_after_the_final_checkpoint_stops_the_agent_without_flagging_it_migrated(CancellationToken ct)
    {
        // Takes live checkpoints but never completes the final one.
        const string Script = """
            d="$SCHEDULER_CHECKPOINT_DIR"
            trap 'read s m < "$d/.request"; if [ "$m" = live ]; then echo state > "$d/state"; echo "$s" > "$d/.c"; mv "$d/.c" "$d/COMPLETE"; fi' USR1
            touch "$d/.ready"
            while true; do sleep 0.05; done
            """;
        var start = new StartAgent { JobId = Job, Attempt = 1, Command = "/bin/sh", Checkpointable = true };
        start.Args.Add(["-c", Script]);
        await _source.HandleAsync(new MasterCommand { Start = start }, ct);
        await _source.EventAsync(s => s.Attempt == 1 && s.State == AgentState.Running, Generous);
        await _target.HandleAsync(Expect("m-8", Token), ct);

        await _source.HandleAsync(Migrate("m-8", attempt: 1, _target.TransferAddress, Token), ct);
        var report = (await _source.SentAsync(m => m.MigrationReport is not null, Generous)).MigrationReport;
        var exit = await _source.EventAsync(s => s.Attempt == 1 && s.State == AgentState.Exited, Generous);

        Assert.That(report.Ok, Is.False);
        Assert.That(report.SourceStopped, Is.True);
        Assert.That(report.StoppedAt, Is.Not.Null);
        Assert.That(report.Error, Does.Contain("TimedOut").Or.Contain("did not mark checkpoint"));
        Assert.That(exit.Migrated, Is.False, "the master requeues the job instead of resuming it on the target");
        Assert.That(exit.HostStop, Is.True, "stopped by the host: requeued without a retry, the kill not taken for the job's outcome");
        Assert.That(Directory.Exists(Path.Combine(_target.DataDir, "restore", "m-8")), Is.False);
    }

    [Test]
    public async Task Migration_of_an_agent_that_is_not_running_here_fails(CancellationToken ct)
    {
        await _source.HandleAsync(Migrate("m-4", attempt: 7, _target.TransferAddress, Token), ct);
        var report = (await _source.SentAsync(m => m.MigrationReport is not null, Generous)).MigrationReport;

        Assert.That(report.Ok, Is.False);
        Assert.That(report.Error, Does.Contain("counter#7").And.Contain("not running"));
    }

    [Test]
    public async Task Second_migration_of_an_agent_already_migrating_is_refused(CancellationToken ct)
    {
        await StartCounterAsync(_source, attempt: 1, ct);

        // Accepts connections and never answers: the first migration hangs in its first round.
        _blackHole = new TcpListener(IPAddress.Loopback, 0);
        _blackHole.Start();
        var silent = $"127.0.0.1:{((IPEndPoint)_blackHole.LocalEndpoint).Port}";
        await _source.HandleAsync(Migrate("m-5", attempt: 1, silent, Token), ct);

        await _source.HandleAsync(Migrate("m-6", attempt: 1, _target.TransferAddress, Token), ct);
        var refused = (await _source.SentAsync(m => m.MigrationReport is not null, Generous)).MigrationReport;

        Assert.That(refused.MigrationId, Is.EqualTo("m-6"));
        Assert.That(refused.Ok, Is.False);
        Assert.That(refused.Error, Does.Contain("already migrating").And.Contain("m-5"));
        Assert.That(_source.Migration.Source.IsMigrating(new AgentKey(Job, 1)), Is.True);
    }

    [Test]
    public async Task Start_from_a_migration_that_never_arrived_fails_to_start_naming_it(CancellationToken ct)
    {
        var start = Counter(attempt: 2);
        start.RestoreMigration = "m-missing";

        await _target.HandleAsync(new MasterCommand { Start = start }, ct);
        var status = await _target.EventAsync(s => s.Attempt == 2, Generous);

        Assert.That(status.State, Is.EqualTo(AgentState.FailedToStart));
        Assert.That(status.Message, Does.Contain("migration m-missing").And.Contain("does not exist"));
    }

    [Test]
    public async Task Cancel_revokes_the_token_and_deletes_what_the_migration_left(CancellationToken ct)
    {
        await _target.HandleAsync(Expect("m-7", Token), ct);
        var staged = Path.Combine(_target.DataDir, "transfers", "m-7");
        var restore = Path.Combine(_target.DataDir, "restore", "m-7");
        Directory.CreateDirectory(staged);
        Directory.CreateDirectory(restore);
        File.WriteAllText(Path.Combine(restore, CheckpointContract.CompleteFile), "1\n");

        await _target.HandleAsync(new MasterCommand { CancelMigration = new CancelMigration { MigrationId = "m-7" } }, ct);

        Assert.That(Directory.Exists(staged), Is.False);
        Assert.That(Directory.Exists(restore), Is.False);
        Assert.Throws<Grpc.Core.RpcException>(() => _target.Server.Authorizations.Check("m-7", Token));
    }

    [TestCase("127.0.0.1:5000", "http://127.0.0.1:5000/")]
    [TestCase("[::1]:5000", "http://[::1]:5000/")]
    [TestCase("http://node-2:5000", "http://node-2:5000/")]
    [TestCase("", null)]
    public void Target_address_is_dialled_over_http_when_it_names_no_scheme(string address, string? expected)
    {
        Assert.That(MigrationPlan.TargetUri(address)?.ToString(), Is.EqualTo(expected));
    }

    [Test]
    public void Migrate_command_without_rounds_or_delta_gets_the_defaults()
    {
        var plan = MigrationPlan.TryFrom(Migrate("m-9", attempt: 1, "127.0.0.1:5000", Token).MigrateAgent, out var error);

        Assert.That(error, Is.Empty);
        Assert.That(plan!.MaxRounds, Is.EqualTo(5));
        Assert.That(plan.FinalDeltaBytes, Is.EqualTo(8L * 1024 * 1024));
    }

    [Test]
    public void Capabilities_include_app_level_checkpoints_where_migration_is_wired()
    {
        Assert.That(WorkerCapabilities.Of(null, keeper: true, transfer: true, appLevelCheckpoints: true),
            Is.EqualTo(new[] { WorkerCapabilities.CheckpointAppLevel, WorkerCapabilities.Keeper, WorkerCapabilities.TransferV1 }));
    }

    private async Task<AgentStatus> StartCounterAsync(MigrationNode node, int attempt, CancellationToken ct)
    {
        await node.HandleAsync(new MasterCommand { Start = Counter(attempt) }, ct);
        return await node.EventAsync(s => s.Attempt == attempt && s.State == AgentState.Running, Generous);
    }

    private StartAgent Counter(int attempt)
    {
        var start = new StartAgent { JobId = Job, Attempt = attempt, Command = "dotnet", Checkpointable = true };
        start.Args.Add([Artifacts.CounterAgentDll, "20"]);
        start.Env["COUNTER_LEDGER"] = _ledger;
        return start;
    }

    private async Task AssertStillCountingAsync(int attempt)
    {
        Assert.That(_source.Agents.FindRunning(new AgentKey(Job, attempt)), Is.Not.Null, "the agent is still running on the source");
        var counted = Ledger().Count;
        await Eventually.TrueAsync(() => Ledger().Count > counted + 2, "the agent to keep counting on the source");
    }

    private static MasterCommand Expect(string migrationId, string token) => new()
    {
        ExpectMigration = new ExpectMigration { MigrationId = migrationId, Token = token, MaxBytes = 64L << 20 },
    };

    private static MasterCommand Migrate(string migrationId, int attempt, string target, string token) => new()
    {
        MigrateAgent = new MigrateAgent { MigrationId = migrationId, JobId = Job, Attempt = attempt, TargetAddress = target, Token = token },
    };

    private static string UnusedLoopbackAddress()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return $"127.0.0.1:{((IPEndPoint)probe.LocalEndpoint).Port}";
    }

    private List<long> Ledger() =>
        File.Exists(_ledger)
            ? File.ReadAllLines(_ledger).Where(l => l.Length > 0).Select(l => long.Parse(l, CultureInfo.InvariantCulture)).ToList()
            : [];
}
