using System.Globalization;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// Metrics and traces from real master and worker processes: the Prometheus endpoints each serves
/// on --metrics-listen, and the spans both export by OTLP to a collector inside the test.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed partial class ObservabilityTests : PerTestCluster
{
    private static readonly HttpClient Http = new();

    [Test]
    public async Task Metrics_endpoints_expose_the_named_series_after_a_small_workload()
    {
        var (cluster, api) = await StartAsync("metrics", "--metrics-listen", "127.0.0.1:0");
        cluster.StartWorker("w1", gpus: 2, extraArgs: ["--metrics-listen", "127.0.0.1:0"]);
        await api.WaitForReadyNodesAsync("w1");
        var masterMetrics = await MetricsAddressAsync(cluster.MasterDataDir);
        var workerMetrics = await MetricsAddressAsync(Path.Combine(cluster.Root, "w1"));
        var uuids = (await api.Admin.DescribeNodeAsync(new DescribeNodeRequest { Id = "w1" }, deadline: ClusterApi.Deadline())).Gpus.Select(g => g.Info.Uuid).ToArray();

        var done = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            done.Add((await api.SubmitAsync(ClusterApi.Shell("echo ok", gpus: 1))).Id);
        }

        foreach (var id in done)
        {
            await api.WaitForStateAsync(id, JobState.Succeeded);
        }

        var sleeper = await api.SubmitAsync(ClusterApi.Shell("sleep 60"));
        await api.WaitForStateAsync(sleeper.Id, JobState.Running);
        var tooLarge = await api.SubmitAsync(ClusterApi.Shell("true", gpus: 8));
        await api.WaitForJobAsync(tooLarge.Id, j => j.PendingReason.StartsWith("fits no node", StringComparison.Ordinal), "pending for want of a larger node");
        var priority = tooLarge.Spec.Priority.ToString(CultureInfo.InvariantCulture);

        // The view and the heartbeats catch up within a batch or an interval: poll, do not sleep.
        var master = await ScrapeUntilAsync(masterMetrics, m =>
            m.Value("scheduler_jobs", ("state", "succeeded")) == 3
            && m.Value("scheduler_queue_depth", ("priority", priority), ("tenant", "default")) == 1
            && m.Value("scheduler_gpu_utilization", ("node", "w1"), ("gpu", uuids[0])) is not null, "the master's view of the workload");
        Assert.Multiple(() =>
        {
            Assert.That(master.Value("scheduler_jobs_submitted_total"), Is.EqualTo(5));
            Assert.That(master.Value("scheduler_jobs_placed_total"), Is.EqualTo(4), "placements: rate() of it is placements per second");
            Assert.That(master.Value("scheduler_jobs", ("state", "running")), Is.EqualTo(1));
            Assert.That(master.Value("scheduler_queue_pending_reasons", ("reason", "too_large")), Is.EqualTo(1));
            Assert.That(master.Value("scheduler_queue_pending_reasons", ("reason", "no_fit")), Is.Zero);
            Assert.That(master.Value("scheduler_nodes", ("state", "ready")), Is.EqualTo(1));
            Assert.That(master.Value("scheduler_nodes", ("state", "dead")), Is.Zero);
            Assert.That(master.Value("scheduler_placement_latency_seconds_count"), Is.EqualTo(4));
            Assert.That(master.Value("scheduler_pass_duration_seconds_count"), Is.GreaterThanOrEqualTo(1));
            Assert.That(master.Value("scheduler_loop_lag_seconds_count"), Is.GreaterThanOrEqualTo(1));
            Assert.That(master.Value("scheduler_submit_duration_seconds_count", ("call", "submit")), Is.EqualTo(5), "every Submit call's time inside the master");
            Assert.That(master.Value("scheduler_store_write_duration_seconds_count"), Is.GreaterThanOrEqualTo(3), "the loop's writes of job records");
            Assert.That(master.Value("scheduler_inbox_depth"), Is.GreaterThanOrEqualTo(0));
            Assert.That(master.Value("scheduler_leader"), Is.EqualTo(1));
            Assert.That(master.Value("scheduler_leader_terms_total"), Is.EqualTo(1), "failovers to this master");
            Assert.That(master.Value("scheduler_migrations_active"), Is.Zero);
            foreach (var uuid in uuids)
            {
                Assert.That(master.Value("scheduler_gpu_utilization", ("node", "w1"), ("gpu", uuid), ("model", "A100")), Is.InRange(0, 1));
                Assert.That(master.Value("scheduler_gpu_memory_total_bytes", ("gpu", uuid)), Is.EqualTo(40960L * 1024 * 1024));
                Assert.That(master.Value("scheduler_gpu_temperature_celsius", ("gpu", uuid)), Is.GreaterThan(0));
                Assert.That(master.Value("scheduler_gpu_power_watts", ("gpu", uuid)), Is.GreaterThan(0));
                Assert.That(master.Value("scheduler_gpu_ecc_errors", ("gpu", uuid)), Is.Zero);
            }
        });

        var worker = await ScrapeUntilAsync(workerMetrics, m =>
            m.Value("scheduler_worker_agent_memory_bytes", ("node", "w1"), ("job", sleeper.Id)) > 0
            && m.Value("scheduler_worker_agents", ("node", "w1"), ("state", "running")) == 1, "the worker's heartbeat to report the running agent");
        Assert.Multiple(() =>
        {
            Assert.That(worker.Value("scheduler_worker_agent_starts_total", ("node", "w1")), Is.EqualTo(4));
            Assert.That(worker.Value("scheduler_worker_agents", ("node", "w1"), ("state", "failed_to_start")), Is.Zero);
            Assert.That(worker.Value("scheduler_worker_agent_cpu_time_seconds_total", ("node", "w1"), ("job", sleeper.Id)), Is.GreaterThanOrEqualTo(0));
            Assert.That(worker.Value("scheduler_worker_heartbeats_total", ("node", "w1")), Is.GreaterThan(0));
            foreach (var uuid in uuids)
            {
                Assert.That(worker.Value("scheduler_worker_gpu_utilization", ("node", "w1"), ("gpu", uuid)), Is.InRange(0, 1));
                Assert.That(worker.Value("scheduler_worker_gpu_memory_total_bytes", ("node", "w1"), ("gpu", uuid)), Is.EqualTo(40960L * 1024 * 1024));
            }
        });

        // The dashboard in deploy/ plots these series: every name it uses is served, except counters
        // of events this workload does not cause (they appear with the first one).
        var dashboard = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "deploy", "grafana", "scheduler-dashboard.json"));
        var served = master.Concat(worker).Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        string[] eventOnly =
        [
            "scheduler_jobs_requeued_total", "scheduler_jobs_preempted_total", "scheduler_migrations_total",
            "scheduler_migration_downtime_milliseconds_bucket", "scheduler_checkpoints_stored_total", "scheduler_rebalance_moves_total",
        ];
        var plotted = DashboardSeries().Matches(await File.ReadAllTextAsync(dashboard)).Select(m => m.Value).Distinct().ToList();
        Assert.That(plotted, Has.Count.GreaterThan(20));
        Assert.That(plotted.Except(eventOnly).Where(name => !served.Contains(name)), Is.Empty, "series the dashboard plots but no endpoint serves");

        await api.Jobs.CancelAsync(new CancelJobRequest { Id = sleeper.Id }, deadline: ClusterApi.Deadline());
        await api.Jobs.CancelAsync(new CancelJobRequest { Id = tooLarge.Id }, deadline: ClusterApi.Deadline());

        // An ended agent's series go with it: a long-lived worker does not pile up one per job.
        await api.WaitForStateAsync(sleeper.Id, JobState.Cancelled);
        await ScrapeUntilAsync(workerMetrics, m => m.Value("scheduler_worker_agent_memory_bytes", ("job", sleeper.Id)) is null, "the cancelled agent's series to go");
    }

    [Test]
    public async Task One_trace_links_submit_to_agent_start_across_master_and_worker()
    {
        await using var collector = await OtlpCollector.StartAsync();
        string[] otlp = ["--otlp-endpoint", collector.Endpoint, "--otlp-protocol", "http/protobuf"];
        var (cluster, api) = await StartAsync("trace", otlp);
        cluster.StartWorker("w1", gpus: 1, extraArgs: otlp);
        await api.WaitForReadyNodesAsync("w1");

        var job = await api.SubmitAsync(ClusterApi.Shell("echo traced", gpus: 1));
        await api.WaitForStateAsync(job.Id, JobState.Succeeded);

        // Both processes export in batches (every 5 s by default): wait for the worker's span.
        var start = await WaitForSpansAsync(collector, spans => spans.FirstOrDefault(s => s.Name == "scheduler.agent.start" && s.Attributes.GetValueOrDefault("scheduler.job.id") == job.Id),
            "the worker's agent-start span");
        var trace = await WaitForSpansAsync(collector, spans =>
            {
                var same = spans.Where(s => s.TraceId == start.TraceId).ToList();
                return same.Any(s => s.Name == "scheduler.submit") ? same : null;
            },
            "the master's spans of the same trace");

        var byName = trace.GroupBy(s => s.Name).ToDictionary(g => g.Key, g => g.Single());
        var submit = byName["scheduler.submit"];
        Assert.Multiple(() =>
        {
            Assert.That(byName.Keys, Is.SupersetOf(new[] { "scheduler.submit", "scheduler.enqueue", "scheduler.queue", "scheduler.place", "scheduler.persist", "scheduler.dispatch", "scheduler.agent.start" }));
            Assert.That(start.Service, Is.EqualTo("scheduler-worker"));
            Assert.That(submit.Service, Is.EqualTo("scheduler-master"));
            Assert.That(submit.ParentSpanId, Is.Empty, "the trace begins at Submit");
            Assert.That(submit.Attributes["scheduler.job.id"], Is.EqualTo(job.Id));
            Assert.That(start.ParentSpanId, Is.EqualTo(byName["scheduler.dispatch"].SpanId), "the worker continues the master's dispatch span");
            Assert.That(start.Attributes["scheduler.node.id"], Is.EqualTo("w1"));
            foreach (var step in new[] { "scheduler.enqueue", "scheduler.queue", "scheduler.place", "scheduler.persist", "scheduler.dispatch" })
            {
                Assert.That(byName[step].Service, Is.EqualTo("scheduler-master"), step);
                Assert.That(byName[step].ParentSpanId, Is.EqualTo(submit.SpanId), step);
            }

            Assert.That(byName["scheduler.place"].Attributes["scheduler.node.id"], Is.EqualTo("w1"));
        });
    }

    /// <summary>Waits for what <paramref name="find"/> finds among the spans received; a timeout lists them all.</summary>
    private static async Task<T> WaitForSpansAsync<T>(OtlpCollector collector, Func<IReadOnlyCollection<ReceivedSpan>, T?> find, string what)
        where T : class
    {
        try
        {
            return await Eventually.ReturnsAsync(() => Task.FromResult(find(collector.Spans)), what);
        }
        catch (TimeoutException ex)
        {
            throw new AssertionException($"{ex.Message}; spans received: {string.Join(", ", collector.Spans.Select(s => $"{s.Service}/{s.Name} trace {s.TraceId} span {s.SpanId} parent {s.ParentSpanId}"))}");
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex("scheduler_[a-z_]+")]
    private static partial System.Text.RegularExpressions.Regex DashboardSeries();

    private static Task<string> MetricsAddressAsync(string dataDir)
    {
        var file = Path.Combine(dataDir, "metrics.addr");
        return Eventually.ReturnsAsync(() => Task.FromResult(File.Exists(file) ? File.ReadAllText(file).Trim() : null), $"{file} to be written");
    }

    private static Task<IReadOnlyList<PrometheusSample>> ScrapeUntilAsync(string baseUrl, Func<IReadOnlyList<PrometheusSample>, bool> ready, string what) =>
        Eventually.ReturnsAsync(
            async () =>
            {
                var samples = await PrometheusScrape.ReadAsync(Http, baseUrl);
                return ready(samples) ? samples : null;
            },
            what);
}
