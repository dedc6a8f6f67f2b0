using System.CommandLine;
using Scheduler.Cli.Local;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl demo`: a local cluster doing real work. Submits a mixed batch (CPU-only, shared,
/// whole and 4-GPU jobs at different priorities, one that fails), SIGKILLs the worker running
/// the most jobs mid-run, and shows those jobs requeued and finished on the other worker.
/// Before that it live-migrates a stateful counter agent between the workers and shows it counting on
/// from its checkpoint. Exit 0 only if every job ended as expected, something was actually requeued,
/// and the counter's own ledger shows it never skipped or repeated a value.
/// </summary>
internal static class DemoCommand
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // Three etcd members and three masters to start and stop (etcd may take 9 s on SIGTERM), two waves of jobs.
    private static readonly TimeSpan HaDeadline = TimeSpan.FromSeconds(180);

    public static Command Create()
    {
        var dir = new Option<string?>("--dir") { Description = "Data and logs (default: a fresh temporary folder)" };
        var ha = new Option<bool>("--ha") { Description = "Three etcd members and three masters instead: kill -9 the leader mid-batch and show the takeover" };
        var command = new Command("demo", "Run a local cluster through a job batch and a worker (or, with --ha, leader) crash, then stop it") { dir, ha };
        command.SetAction(Cli.LocalAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var highlyAvailable = parse.GetValue(ha);
            var limit = highlyAvailable ? HaDeadline : Deadline;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(limit);
            var directory = parse.GetValue(dir) ?? Path.Combine(Path.GetTempPath(), $"scheduler-demo-{Environment.ProcessId}");
            try
            {
                return highlyAvailable
                    ? await HaDemo.RunAsync(directory, Insecure(parse), output, deadline.Token)
                    : await RunAsync(directory, Insecure(parse), output, deadline.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                await output.WriteLineAsync($"demo: did not finish within {limit.TotalSeconds:F0} s; logs in {directory}");
                return Cli.JobFailed;
            }
        }));
        return command;
    }

    /// <summary>Whether the local cluster runs without TLS (--insecure); said on stderr when it does.</summary>
    internal static bool Insecure(ParseResult parse)
    {
        var insecure = ClientTls.IsInsecure(parse);
        if (insecure)
        {
            ClientTls.WarnInsecure(parse.InvocationConfiguration.Error);
        }

        return insecure;
    }

    private static async Task<int> RunAsync(string directory, bool insecure, TextWriter output, CancellationToken ct)
    {
        var printer = new Printer("table", output);
        await output.WriteLineAsync($"== starting a master and 2 workers with 4 simulated A100s each (logs in {directory})");
        await using var cluster = await LocalCluster.StartAsync(new LocalClusterOptions(directory, Insecure: insecure), ct);
        await using var client = new SchedulerClient(cluster.ClientOptions());
        await WaitAsync(async () => (await client.ListNodesAsync(ct)).Count(n => n.Health == NodeHealth.Ready) == 2, ct);
        printer.Nodes(await client.ListNodesAsync(ct));

        var migrated = await MigrateCounterAsync(client, directory, output, ct);

        await output.WriteLineAsync("== submitting a mixed batch; agents are real processes");
        using var watchStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var watcher = PrintChangesAsync(client, output, watchStop.Token);
        var expected = new Dictionary<string, JobState>(StringComparer.Ordinal);
        foreach (var (spec, outcome) in Batch())
        {
            var response = await client.SubmitAsync(spec, null, ct);
            expected[response.Job.Id] = outcome;
        }

        // Kill the worker with the most running jobs once the long jobs are under way.
        var victim = await WaitForAsync(
            async () =>
            {
                var running = (await client.ListJobsAsync([JobState.Running], 0, ct)).Where(j => j.Spec.Name.StartsWith("train", StringComparison.Ordinal)).ToArray();
                return running.Length >= 2 ? running.GroupBy(j => j.NodeId).OrderByDescending(g => g.Count()).First().Key : null;
            },
            ct);
        var worker = cluster.Workers.First(w => w.Name == victim);
        await output.WriteLineAsync($"== killing {victim} (pid {worker.Pid}) with SIGKILL while it runs jobs");
        worker.Kill();

        await WaitAsync(async () => (await client.ListJobsAsync(null, 0, ct)).All(j => j.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled), ct);
        await watchStop.CancelAsync();
        await watcher.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        var jobs = (await client.ListJobsAsync(null, 0, ct)).OrderBy(j => j.Id, StringComparer.Ordinal).ToArray();
        await output.WriteLineAsync("== summary");
        printer.Jobs(jobs);
        var moved = jobs.Where(j => j.Requeues > 0).ToArray();
        if (moved.OrderByDescending(j => j.Spec.Name.StartsWith("train", StringComparison.Ordinal)).FirstOrDefault() is { } example)
        {
            var logs = await client.GetLogsAsync(example.Id, LogStream.Stdout, 0, ct);
            await output.WriteLineAsync($"== output of {example.Id} ({example.Spec.Name}), requeued from {victim} to {example.NodeId}:");
            await output.WriteLineAsync(logs.Data.ToStringUtf8().TrimEnd());
        }

        var wrong = jobs.Where(j => expected.TryGetValue(j.Id, out var outcome) && outcome != j.State).ToArray();
        foreach (var job in wrong)
        {
            await output.WriteLineAsync($"unexpected: {job.Id} {job.Spec.Name} is {job.State}, expected {expected[job.Id]}");
        }

        var ok = migrated && wrong.Length == 0 && moved.Length > 0 && moved.All(j => j.NodeId != victim);
        await output.WriteLineAsync(ok
            ? $"== demo passed: {jobs.Length} jobs finished as expected; {moved.Length} requeued off {victim} and completed elsewhere. Stopping the cluster."
            : "== demo FAILED (see above); stopping the cluster.");
        return ok ? Cli.Ok : Cli.JobFailed;
    }

    /// <summary>
    /// Live migration: the sample counter agent (checkpointable) counts on one worker, moves to the
    /// other with its state, and counts on; its ledger must read 1, 2, 3, … with no gap or repeat.
    /// </summary>
    private static async Task<bool> MigrateCounterAsync(SchedulerClient client, string directory, TextWriter output, CancellationToken ct)
    {
        var ledger = Path.Combine(directory, "counter.ledger");

        // The agent appends to it, as an unprivileged user when the demo runs as root (see --agent-user).
        File.WriteAllText(ledger, "");
        File.SetUnixFileMode(ledger, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite);
        var spec = new JobSpec
        {
            Name = "counter",
            Command = "dotnet",
            Resources = new Resources { CpuMillis = 250, MemoryMib = 256 },
            Checkpointable = true,
        };
        spec.Args.Add([LocalCluster.Locate("CounterAgent", "CounterAgent.dll"), "50", Target.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        spec.Env["COUNTER_LEDGER"] = ledger;
        var job = (await client.SubmitAsync(spec, null, ct)).Job;
        await output.WriteLineAsync($"== live migration: {job.Id} runs the sample counter agent (checkpointable), counting to {Target} every 50 ms");
        var running = await WaitForAsync(async () => await client.GetJobAsync(job.Id, ct) is { State: JobState.Running } j && Counted(ledger).Count >= 20 ? j : null, ct);
        var target = running.NodeId == "worker-a" ? "worker-b" : "worker-a";
        await output.WriteLineAsync($"   counting on {running.NodeId}, at {Counted(ledger).Count}; migrating it to {target}");
        await client.MigrateJobAsync(job.Id, target, ct);
        var moved = await WaitForAsync(
            async () => await client.GetJobAsync(job.Id, ct) is { } j && j.LastMigration is { } m && (m.Phase != "moved" || m.DowntimeMs > 0 || j.State is JobState.Succeeded) ? j : null,
            ct);
        var m = moved.LastMigration;
        await output.WriteLineAsync($"   live-migrated {m.SourceNode} -> {m.TargetNode}: {m.Rounds} rounds, {m.BytesSent} bytes of checkpoint, downtime {m.DowntimeMs} ms ({m.Phase})");
        var suspended = await SuspendAndResumeAsync(client, job.Id, ledger, output, ct);
        var done = await WaitForAsync(async () => await client.GetJobAsync(job.Id, ct) is { State: JobState.Succeeded or JobState.Failed or JobState.Cancelled } j ? j : null, ct);
        var counted = Counted(ledger);
        var continuous = counted.SequenceEqual(Enumerable.Range(1, counted.Count).Select(v => (long)v));
        var logs = await client.GetLogsAsync(done.Id, LogStream.Stdout, 0, ct);
        var restored = logs.Data.ToStringUtf8().Split('\n').FirstOrDefault(l => l.StartsWith("restored", StringComparison.Ordinal)) ?? "";
        await output.WriteLineAsync($"   on {done.NodeId} (attempt {done.Attempt}) it said \"{restored.Trim()}\" and finished {Printer.StateName(done.State)}; " +
                                    (continuous ? $"its ledger counted 1..{counted.Count}: no value skipped or repeated" : "its ledger has gaps or repeats"));
        return m.Phase == "moved" && suspended && done.State == JobState.Succeeded && continuous && counted.Count == Target;
    }

    /// <summary>Suspend (checkpoint, stop, GPUs and CPU freed) while it counts, then resume: it must go on from where it stopped.</summary>
    private static async Task<bool> SuspendAndResumeAsync(SchedulerClient client, string jobId, string ledger, TextWriter output, CancellationToken ct)
    {
        var from = Counted(ledger).Count;
        await WaitForAsync(async () => Counted(ledger).Count >= from + 10 ? await client.GetJobAsync(jobId, ct) : null, ct);
        await client.SuspendJobAsync(jobId, ct);
        var suspended = await WaitForAsync(async () => await client.GetJobAsync(jobId, ct) is { } j && (j.State == JobState.Suspended || j.CheckpointInProgress.Length == 0) ? j : null, ct);
        if (suspended.State != JobState.Suspended)
        {
            await output.WriteLineAsync($"   suspend failed: {suspended.Message}");
            return false;
        }

        var atSuspend = Counted(ledger).Count;
        await output.WriteLineAsync($"   suspended at {atSuspend}: checkpoint {Printer.Checkpoint(suspended.Checkpoint)}; nothing runs meanwhile");
        await client.ResumeJobAsync(jobId, ct);
        var resumed = await WaitForAsync(async () => await client.GetJobAsync(jobId, ct) is { } j && j.State is JobState.Running or JobState.Succeeded && j.Attempt > suspended.Attempt ? j : null, ct);
        await output.WriteLineAsync($"   resumed on {resumed.NodeId} (attempt {resumed.Attempt}): {resumed.Message}");
        return true;
    }

    /// <summary>How far the demo's counter counts (every 50 ms): long enough to migrate, suspend and resume it.</summary>
    private const int Target = 160;

    private static List<long> Counted(string ledger) =>
        File.Exists(ledger)
            ? [.. File.ReadAllLines(ledger).Where(l => l.Length > 0).Select(l => long.Parse(l, System.Globalization.CultureInfo.InvariantCulture))]
            : [];

    private static IEnumerable<(JobSpec Spec, JobState Outcome)> Batch()
    {
        yield return (Shell("hello-cpu", "echo hello from $SCHEDULER_NODE_ID; uname -sr", cpu: 500), JobState.Succeeded);
        yield return (Shell("nvidia-smi-1gpu", "echo visible GPU: $CUDA_VISIBLE_DEVICES; sleep 1", gpus: 1), JobState.Succeeded);
        yield return (Shell("notebook-half-gpu", "echo shared GPU: $CUDA_VISIBLE_DEVICES; sleep 1", gpuMilli: 500), JobState.Succeeded);
        yield return (Shell("eval-half-gpu", "echo shared GPU: $CUDA_VISIBLE_DEVICES; sleep 1", gpuMilli: 500), JobState.Succeeded);
        yield return (Shell("broken-agent", "echo 'missing checkpoint' >&2; exit 3"), JobState.Failed);
        yield return (Shell("train-4gpu", Steps(8), gpus: 4, priority: 300), JobState.Succeeded);
        yield return (Shell("train-2gpu", Steps(8), gpus: 2, priority: 200), JobState.Succeeded);
        yield return (Shell("train-1gpu", Steps(8), gpus: 1, priority: 150), JobState.Succeeded);
        yield return (Shell("batch-low", Steps(6), cpu: 2000, priority: 50), JobState.Succeeded);
    }

    private static string Steps(int steps) =>
        $"echo attempt $SCHEDULER_ATTEMPT on $SCHEDULER_NODE_ID with GPUs $CUDA_VISIBLE_DEVICES; " +
        $"for i in $(seq 1 {steps}); do echo step $i; sleep 0.5; done; echo done";

    private static JobSpec Shell(string name, string script, long cpu = 250, int gpus = 0, int gpuMilli = 0, int priority = 100)
    {
        var spec = new JobSpec
        {
            Name = name,
            Command = "/bin/sh",
            Priority = priority,
            Resources = new Resources { CpuMillis = cpu, MemoryMib = 256, Gpus = gpus, GpuMilli = gpuMilli },
        };
        spec.Args.Add(["-c", script]);
        return spec;
    }

    private static async Task PrintChangesAsync(SchedulerClient client, TextWriter output, CancellationToken ct)
    {
        var last = new Dictionary<string, JobState>(StringComparer.Ordinal);
        await foreach (var job in client.WatchJobsAsync(null, ct))
        {
            if (last.TryGetValue(job.Id, out var state) && state == job.State)
            {
                continue;
            }

            last[job.Id] = job.State;
            var detail = job.State switch
            {
                JobState.Pending => job.PendingReason.Length > 0 ? job.PendingReason : job.Message,
                JobState.Assigned or JobState.Running => $"on {job.NodeId} attempt {job.Attempt}",
                _ => job.Message,
            };
            await output.WriteLineAsync($"  {job.Id} {job.Spec.Name,-18} {Printer.StateName(job.State),-10} {detail}");
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, CancellationToken ct)
    {
        while (!await condition())
        {
            await Task.Delay(100, ct);
        }
    }

    private static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, CancellationToken ct)
        where T : class
    {
        while (true)
        {
            if (await probe() is { } value)
            {
                return value;
            }

            await Task.Delay(100, ct);
        }
    }
}
