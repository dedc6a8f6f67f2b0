using System.Collections.Concurrent;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using Grpc.Core;
using Grpc.Net.Client;
using Scheduler.Cli.Local;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl bench failover --kills N`: three etcd members, three masters and two workers under a
/// steady stream of submissions; the leader is SIGKILLed N times (restarted as a standby after each
/// takeover). Per kill it measures kill → a surviving master says it leads, and kill → the first
/// job submitted after the kill is running (accepted, placed and started by the new leader: the
/// failover as a user sees it). At the end every acknowledged submit must have succeeded, and the
/// agents' own ledger must show each job ran to its end once and never overlapped itself.
/// </summary>
internal static class FailoverBench
{
    private static readonly TimeSpan SubmitPace = TimeSpan.FromMilliseconds(200);

    public static Command Create()
    {
        var kills = new Option<int>("--kills") { Description = "How many times the leader is killed", DefaultValueFactory = _ => 5 };
        var lease = new Option<int>("--lease-ttl-ms") { Description = "The masters' leader lease", DefaultValueFactory = _ => 1000 };
        var submitters = new Option<int>("--submitters") { Description = "Concurrent submitters, each one job per 200 ms", DefaultValueFactory = _ => 2 };
        var command = new Command("failover", "Kill the leading master repeatedly under load; failover times, jobs lost and run twice") { kills, lease, submitters };
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            var dir = Path.Combine(Path.GetTempPath(), $"scheduler-bench-failover-{Environment.ProcessId}");
            try
            {
                return await RunAsync(dir, Math.Max(1, parse.GetValue(kills)), parse.GetValue(lease), Math.Max(1, parse.GetValue(submitters)), parse.InvocationConfiguration.Output, ct);
            }
            finally
            {
                Directory.Delete(dir, recursive: true);
            }
        }));
        return command;
    }

    private static async Task<int> RunAsync(string dir, int kills, int leaseTtlMs, int submitters, TextWriter output, CancellationToken ct)
    {
        await output.WriteLineAsync($"machine: {Environment.ProcessorCount} cores, {RuntimeInformation.OSDescription.Trim()}, {RuntimeInformation.FrameworkDescription}");
        await output.WriteLineAsync($"cluster: 3 etcd members, 3 masters (lease {leaseTtlMs} ms), 2 workers; {submitters} submitters, one ~0.6 s ledger agent each per {SubmitPace.TotalMilliseconds:0} ms; {kills} kill -9 of the leader");
        await using var cluster = await LocalHaCluster.StartAsync(new LocalHaClusterOptions(dir, LeaseTtlMs: leaseTtlMs), ct);
        var tls = cluster.ClientOptions();
        await using var client = new SchedulerClient(new SchedulerClientOptions
        {
            Addresses = tls.Addresses,
            CaCertificate = tls.CaCertificate,
            ClientCertificate = tls.ClientCertificate,
            InitialBackoff = TimeSpan.FromMilliseconds(50),
            RetryBudget = TimeSpan.FromSeconds(60),
        });
        await Until(async () => (await client.ListNodesAsync(ct)).Count(n => n.Health == NodeHealth.Ready) == 2, ct);

        var ledger = Path.Combine(dir, "ledger");
        LedgerAgent.CreateLedger(ledger);
        var acknowledged = new ConcurrentDictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        using var stopLoad = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var load = Enumerable.Range(0, submitters).Select(s => SubmitLoopAsync(client, ledger, s, acknowledged, stopLoad.Token)).ToArray();

        var elected = new List<double>();
        var placed = new List<double>();
        for (var k = 1; k <= kills; k++)
        {
            // Steady state first: the current leader runs jobs it accepted itself.
            var since = TimeProvider.System.GetUtcNow();
            await Until(async () => (await client.ListJobsAsync(null, 100, ct)).Any(j => j.StartedAt is not null && j.CreatedAt.ToDateTimeOffset() > since), ct);
            var leader = await LeaderAsync(cluster.Masters, tls, except: null, ct);
            var killedAt = TimeProvider.System.GetUtcNow();
            var clock = Stopwatch.StartNew();
            cluster.Process(leader.MasterId).Kill();

            var successor = await LeaderAsync(cluster.Masters, tls, except: leader.MasterId, ct);
            var electedAfter = clock.Elapsed.TotalSeconds;
            await Until(async () => (await client.ListNodesAsync(ct)).Count(n => n.Health == NodeHealth.Ready) == 2, ct);
            var workersAfter = clock.Elapsed.TotalSeconds;
            var first = await Until(
                async () => (await client.ListJobsAsync(null, 200, ct))
                    .Where(j => j.CreatedAt.ToDateTimeOffset() > killedAt && j.StartedAt is not null)
                    .Select(j => (DateTimeOffset?)j.StartedAt.ToDateTimeOffset())
                    .Min(),
                ct);
            var placedAfter = (first - killedAt).TotalSeconds;
            var acceptedAfter = ((await client.ListJobsAsync(null, 200, ct))
                .Where(j => j.CreatedAt.ToDateTimeOffset() > killedAt)
                .Min(j => j.CreatedAt.ToDateTimeOffset()) - killedAt).TotalSeconds;
            elected.Add(electedAfter);
            placed.Add(placedAfter);
            await output.WriteLineAsync(
                $"kill {k}: {leader.MasterId} (epoch {leader.Epoch}) -> {successor.MasterId} (epoch {successor.Epoch}); " +
                $"new leader after {S(electedAfter)} (both workers ready on it by {S(workersAfter)}, first submit accepted at {S(acceptedAfter)}), " +
                $"first job submitted after the kill running after {S(placedAfter)}");
            await cluster.RestartMasterAsync(leader.MasterId, ct);
        }

        await stopLoad.CancelAsync();
        await Task.WhenAll(load).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        var ids = acknowledged.Keys.ToHashSet(StringComparer.Ordinal);
        Job[] jobs = [];
        await Until(
            async () =>
            {
                jobs = (await client.ListJobsAsync(null, 0, ct)).Where(j => ids.Contains(j.Id)).ToArray();
                return jobs.Length == ids.Count && jobs.All(j => j.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled);
            },
            ct,
            TimeSpan.FromMinutes(2));

        var record = LedgerAgent.Ledger.Read(ledger);
        var lost = ids.Count - jobs.Count(j => j.State == JobState.Succeeded);
        var twice = ids.Count(id => record.Ends(id) > 1) + record.Overlaps.Count;
        var notEnded = ids.Count(id => record.Ends(id) == 0);
        await output.WriteLineAsync($"kill -> new leader:               min {S(elected.Min())}, median {S(Median(elected))}, max {S(elected.Max())}");
        await output.WriteLineAsync($"kill -> first new job running:    min {S(placed.Min())}, median {S(Median(placed))}, max {S(placed.Max())}");
        await output.WriteLineAsync($"jobs: {ids.Count} acknowledged, {jobs.Count(j => j.State == JobState.Succeeded)} succeeded, {lost} lost or not succeeded, " +
                                    $"{twice} run twice (ledger: ended more than once, or overlapping attempts), {notEnded} without an end in the ledger; " +
                                    $"attempts: {string.Join(", ", jobs.GroupBy(j => j.Attempt).OrderBy(g => g.Key).Select(g => $"{g.Count()}×{g.Key}"))}");
        if (_refused > 0)
        {
            await output.WriteLineAsync($"submits that failed after the client's retries (not acknowledged, so not owed): {_refused}; first: {_firstRefusal}");
        }

        var met = Median(placed) < 2.0 && lost == 0 && twice == 0;
        await output.WriteLineAsync($"goal (median under 2 s, none lost, none twice): {(met ? "met" : "NOT met")}");
        return lost == 0 && twice == 0 && notEnded == 0 ? Cli.Ok : Cli.JobFailed;
    }

    private static async Task SubmitLoopAsync(SchedulerClient client, string ledger, int submitter, ConcurrentDictionary<string, DateTimeOffset> acknowledged, CancellationToken ct)
    {
        for (var i = 0; !ct.IsCancellationRequested; i++)
        {
            try
            {
                var spec = LedgerAgent.Spec($"f{submitter}-{i}", ledger, cpuMillis: 100, steps: 3, stepSeconds: 0.2);
                var response = await client.SubmitAsync(spec, $"failover-{submitter}-{i}", ct);
                acknowledged[response.Job.Id] = TimeProvider.System.GetUtcNow();
                await Task.Delay(SubmitPace, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is RpcException or MasterUnreachableException)
            {
                // Not acknowledged, so not owed: counted and reported, and the load goes on.
                Interlocked.Increment(ref _refused);
                _firstRefusal ??= ex.Message;
            }
        }
    }

    private static int _refused;
    private static string? _firstRefusal;

    /// <summary>Asks every master directly (no redirects) until one other than <paramref name="except"/> says it leads.</summary>
    private static async Task<LeaderInfo> LeaderAsync(IReadOnlyList<ClusterProcess> masters, SchedulerClientOptions tls, string? except, CancellationToken ct)
    {
        var channels = masters.Where(m => m.Id != except).Select(m => SchedulerChannels.ForAddress(new Uri(m.Address), tls)).ToArray();
        try
        {
            var admins = channels.Select(c => new Admin.AdminClient(c)).ToArray();
            return await Until(
                async () =>
                {
                    foreach (var admin in admins)
                    {
                        try
                        {
                            var answer = await admin.GetLeaderAsync(new GetLeaderRequest(), deadline: DateTime.UtcNow.AddSeconds(1), cancellationToken: ct);
                            if (answer.IsLeader)
                            {
                                return answer;
                            }
                        }
                        catch (RpcException) when (!ct.IsCancellationRequested)
                        {
                        }
                    }

                    return null;
                },
                DefaultLimit,
                TimeSpan.FromMilliseconds(10),
                ct);
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    private static Task<object> Until(Func<Task<bool>> condition, CancellationToken ct, TimeSpan? limit = null) =>
        Poll.UntilAsync(condition, limit ?? DefaultLimit, "a cluster condition of the failover benchmark", ct);

    private static async Task<DateTimeOffset> Until(Func<Task<DateTimeOffset?>> probe, CancellationToken ct) =>
        (await Until(async () => await probe() is { } value ? new Box<DateTimeOffset>(value) : null, DefaultLimit, TimeSpan.FromMilliseconds(20), ct)).Value;

    private static Task<T> Until<T>(Func<Task<T?>> probe, TimeSpan limit, TimeSpan pause, CancellationToken ct)
        where T : class =>
        Poll.UntilAsync(probe, limit, pause, "a cluster condition of the failover benchmark", ct);

    private static readonly TimeSpan DefaultLimit = TimeSpan.FromSeconds(60);

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    private static string S(double seconds) => $"{seconds.ToString("F2", CultureInfo.InvariantCulture)} s";

    private sealed record Box<T>(T Value);
}
