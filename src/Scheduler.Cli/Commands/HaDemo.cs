using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Scheduler.Cli.Local;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl demo --ha`: three etcd members, three masters and two workers; a batch of short jobs;
/// the leading master SIGKILLed mid-batch. Shows the takeover with its measured times and judges
/// "exactly once" from outside, from a ledger every agent appends to. Exit 0 only if another
/// master took over and every job succeeded, ran to its end once, and never overlapped itself.
/// </summary>
internal static class HaDemo
{
    private const int Jobs = 16;

    // 1.75 cores per job on 8-core workers: four run on each, the other eight wait for the new leader,
    // and the core left over on each worker takes the small jobs submitted during the failover at once,
    // so their start measures the takeover rather than the batch's own queueing.
    private const long CpuMillisPerJob = 1750;
    private const long CpuMillisPerLateJob = 500;
    private const int LateJobs = 2;

    public static async Task<int> RunAsync(string directory, bool insecure, TextWriter output, CancellationToken ct)
    {
        var printer = new Printer("table", output);
        await output.WriteLineAsync($"== starting 3 etcd members, 3 masters and 2 workers with 4 simulated A100s each (logs in {directory})");

        await using var cluster = await LocalHaCluster.StartAsync(new LocalHaClusterOptions(directory, Insecure: insecure), ct);
        foreach (var process in cluster.Processes)
        {
            await output.WriteLineAsync($"  {process.Role,-6} {process.Id,-9} {(process.Address.Length > 0 ? process.Address : "-"),-22} pid {process.Pid}");
        }

        await output.WriteLineAsync($"  processes listed in {cluster.ManifestPath}");
        await using var client = new SchedulerClient(cluster.ClientOptions());
        await WaitAsync(async () => (await client.ListNodesAsync(ct)).Count(n => n.Health == NodeHealth.Ready) == 2, ct);
        var before = await WaitForAsync(async () => await client.GetLeaderAsync(ct) is { MasterId.Length: > 0 } answer ? answer : null, ct);
        await output.WriteLineAsync($"== leader: {before.MasterId} at {before.Address} (epoch {before.Epoch}, store {before.Store}); the others stand by");

        var ledger = Path.Combine(directory, "ledger");
        LedgerAgent.CreateLedger(ledger);
        await output.WriteLineAsync($"== submitting {Jobs.ToString(CultureInfo.InvariantCulture)} jobs of about 4 s, 8 at a time fit (and {LateJobs.ToString(CultureInfo.InvariantCulture)} small ones once the leader is killed); each agent appends to {ledger}/ledger");
        var ids = new List<string>();
        for (var i = 1; i <= Jobs; i++)
        {
            ids.Add((await client.SubmitAsync(Job($"ha-{i.ToString("D2", CultureInfo.InvariantCulture)}", ledger), null, ct)).Job.Id);
        }

        var atKill = await WaitForAsync(
            async () =>
            {
                var jobs = await client.ListJobsAsync(null, 0, ct);
                return jobs.Count(j => j.State == JobState.Running) >= 4 && jobs.Any(j => j.State == JobState.Pending) ? jobs : null;
            },
            ct);
        var leader = await WaitForAsync(async () => await client.GetLeaderAsync(ct) is { MasterId.Length: > 0 } answer ? answer : null, ct);
        var victim = cluster.Masters.Any(m => m.Id == leader.MasterId)
            ? cluster.Process(leader.MasterId)
            : throw new IOException($"the leader '{leader.MasterId}' at {leader.Address} is none of the masters in {cluster.ManifestPath}");
        var pendingAtKill = atKill.Count(j => j.State == JobState.Pending);
        await output.WriteLineAsync(
            $"== kill -9 the leader {leader.MasterId} (pid {victim.Pid}) with {atKill.Count(j => j.State == JobState.Running)} jobs running and {pendingAtKill} pending");
        var killedAt = TimeProvider.System.GetUtcNow();
        var clock = Stopwatch.StartNew();
        victim.Kill();

        var late = SubmitLateAsync(client, ledger, ct);
        var survivors = cluster.Masters.Where(m => m.Id != leader.MasterId).ToArray();
        var (successor, failover) = await WaitForNewLeaderAsync(survivors, cluster.ClientOptions(), clock, ct);
        await output.WriteLineAsync(
            $"== takeover: {successor.MasterId} at {successor.Address} leads (epoch {successor.Epoch}, was {before.Epoch}); "
            + $"kill -> it answered GetLeader with is_leader=true: {Seconds(failover)}");

        var lateIds = await late;
        ids.AddRange(lateIds);
        await WaitAsync(async () => (await client.ListJobsAsync(null, 0, ct)).All(j => j.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled), ct);
        var finished = (await client.ListJobsAsync(null, 0, ct)).Where(j => ids.Contains(j.Id)).OrderBy(j => j.Id, StringComparer.Ordinal).ToArray();
        var record = LedgerAgent.Ledger.Read(ledger);
        var firstPlaced = finished
            .Where(j => lateIds.Contains(j.Id) && j.StartedAt is not null)
            .OrderBy(j => j.StartedAt.ToDateTimeOffset())
            .FirstOrDefault();
        if (firstPlaced is not null)
        {
            var agentStart = record.FirstStartAfter(firstPlaced.Id, killedAt);
            await output.WriteLineAsync(
                $"== kill -> first job placed by the new leader running ({firstPlaced.Id}, submitted during the failover; its record's started_at): {Seconds(firstPlaced.StartedAt.ToDateTimeOffset() - killedAt)}"
                + (agentStart is { } at ? $"; its agent started at {Seconds(at - killedAt)} (ledger)" : ""));
        }

        await output.WriteLineAsync("== summary");
        printer.Jobs(finished);
        var attempts = string.Join(", ", finished.GroupBy(j => j.Attempt).OrderBy(g => g.Key).Select(g => $"{g.Count()} with attempt {g.Key}"));
        await output.WriteLineAsync($"attempts: {attempts}");

        var problems = new List<string>();
        problems.AddRange(finished.Where(j => j.State != JobState.Succeeded).Select(j => $"{j.Id} is {Printer.StateName(j.State)}: {j.Message}"));
        problems.AddRange(ids.Where(id => record.Ends(id) != 1).Select(id => $"{id} ran to its end {record.Ends(id)} times (ledger)"));
        problems.AddRange(record.Overlaps.Select(o => $"overlap: {o} (an attempt started while an earlier one of the same job still ran)"));
        if (successor.MasterId == leader.MasterId)
        {
            problems.Add($"{leader.MasterId} still leads after its kill");
        }

        foreach (var problem in problems)
        {
            await output.WriteLineAsync($"unexpected: {problem}");
        }

        await output.WriteLineAsync(problems.Count == 0
            ? $"== demo passed: leader {leader.MasterId} killed, {successor.MasterId} took over in {Seconds(failover)}; "
                + $"{finished.Length} jobs succeeded, each ran to its end exactly once, none twice at a time. Stopping the cluster."
            : "== demo FAILED (see above); stopping the cluster.");
        return problems.Count == 0 ? Cli.Ok : Cli.JobFailed;
    }

    /// <summary>Small jobs submitted right after the kill: the client retries them until the new leader takes them.</summary>
    private static async Task<IReadOnlyList<string>> SubmitLateAsync(SchedulerClient client, string ledger, CancellationToken ct)
    {
        var ids = new List<string>();
        for (var i = 1; i <= LateJobs; i++)
        {
            var spec = Job($"ha-late-{i.ToString(CultureInfo.InvariantCulture)}", ledger, CpuMillisPerLateJob);
            ids.Add((await client.SubmitAsync(spec, null, ct)).Job.Id);
        }

        return ids;
    }

    /// <summary>Asks each surviving master directly (no leader hints followed) until one answers that it leads.</summary>
    private static async Task<(LeaderInfo Leader, TimeSpan After)> WaitForNewLeaderAsync(IReadOnlyList<ClusterProcess> survivors, SchedulerClientOptions tls, Stopwatch clock, CancellationToken ct)
    {
        var channels = survivors.Select(s => SchedulerChannels.ForAddress(new Uri(s.Address), tls)).ToArray();
        try
        {
            var admins = channels.Select(c => new Admin.AdminClient(c)).ToArray();
            while (true)
            {
                foreach (var admin in admins)
                {
                    try
                    {
                        var answer = await admin.GetLeaderAsync(new GetLeaderRequest(), deadline: DateTime.UtcNow.AddSeconds(1), cancellationToken: ct);
                        if (answer.IsLeader)
                        {
                            return (answer, clock.Elapsed);
                        }
                    }
                    catch (RpcException) when (!ct.IsCancellationRequested)
                    {
                    }
                }

                await Task.Delay(20, ct);
            }
        }
        finally
        {
            foreach (var channel in channels)
            {
                channel.Dispose();
            }
        }
    }

    private static JobSpec Job(string name, string ledger, long cpuMillis = CpuMillisPerJob) =>
        LedgerAgent.Spec(name, ledger, cpuMillis, steps: 8, stepSeconds: 0.5);

    private static string Seconds(TimeSpan span) => $"{span.TotalSeconds.ToString("F2", CultureInfo.InvariantCulture)} s";

    private static async Task WaitAsync(Func<Task<bool>> condition, CancellationToken ct) =>
        await WaitForAsync(async () => await condition() ? new object() : null, ct);

    /// <summary>Polls until <paramref name="probe"/> has an answer; a master that is not reachable or not leading yet (an election) is asked again.</summary>
    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, CancellationToken ct)
        where T : class
    {
        while (true)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (Exception ex) when (ex is RpcException or MasterUnreachableException && !ct.IsCancellationRequested)
            {
            }

            await Task.Delay(100, ct);
        }
    }
}
