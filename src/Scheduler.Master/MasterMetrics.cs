using System.Diagnostics.Metrics;

namespace Scheduler.Master;

/// <summary>The master's one Meter; instrument names follow the scheduler.* convention.</summary>
internal sealed class MasterMetrics : IDisposable
{
    public const string MeterName = "Scheduler.Master";
    private readonly Meter _meter;
    private readonly Counter<long> _submitted;
    private readonly Counter<long> _placed;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _requeued;
    private readonly Counter<long> _finished;
    private readonly Counter<long> _preempted;
    private readonly Counter<long> _terms;
    private readonly Counter<long> _checkpoints;
    private IReadOnlyList<Core.Scaling.ScalingAdvice> _scaling = [];
    private readonly Histogram<long> _migrationDowntime;
    private readonly Histogram<double> _passDuration;
    private readonly Counter<long> _rebalanceMoves;
    private readonly Histogram<double> _placementLatency;
    private readonly Histogram<double> _loopLag;
    private readonly Counter<long> _migrations;
    private readonly Histogram<double> _storeWrite;
    private readonly Histogram<double> _submitDuration;

    /// <summary>Bounds for the loop's own timings (lag, store writes, submits inside the master), in seconds.</summary>
    private static readonly double[] LoopBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

    public MasterMetrics(IMeterFactory meters)
    {
        _meter = meters.Create(MeterName);
        _submitted = _meter.CreateCounter<long>("scheduler.jobs.submitted", "{job}", "Jobs accepted by Submit");
        _refused = _meter.CreateCounter<long>("scheduler.jobs.refused", "{job}", "Submits refused with RESOURCE_EXHAUSTED because the master's inbox held its most submissions");
        _placed = _meter.CreateCounter<long>("scheduler.jobs.placed", "{job}", "Job attempts placed on a node");
        _requeued = _meter.CreateCounter<long>("scheduler.jobs.requeued", "{job}", "Jobs put back in the queue after losing their node");
        _finished = _meter.CreateCounter<long>("scheduler.jobs.finished", "{job}", "Jobs that reached a final state");
        _migrationDowntime = _meter.CreateHistogram<long>("scheduler.migration.downtime", "ms", "Live migrations: agent stopped on the source to running on the target");
        _terms = _meter.CreateCounter<long>("scheduler.leader.terms", "{term}", "Terms this master began as leader (failovers to it)");
        _preempted = _meter.CreateCounter<long>("scheduler.jobs.preempted", "{job}", "Running jobs evicted for a higher-priority job");
        _meter.CreateObservableGauge(
            "scheduler.autoscale.hosts_delta",
            () => Volatile.Read(ref _scaling).Where(a => a.Model.Length > 0).Select(a => new Measurement<int>(a.Delta, new KeyValuePair<string, object?>("gpu_model", a.Model))),
            "{host}",
            "Autoscaling signal: hosts of each kind to add (positive) or remove (negative)");
        _checkpoints = _meter.CreateCounter<long>("scheduler.checkpoints.stored", "{checkpoint}", "Checkpoints stored on workers (suspend, preempt, periodic)");
        _passDuration = _meter.CreateHistogram<double>("scheduler.pass.duration", "s", "Time of one scheduling pass");
        _rebalanceMoves = _meter.CreateCounter<long>("scheduler.rebalance.moves", "{migration}", "Moves of rebalancing runs, started as migrations or skipped as no longer possible");
        _placementLatency = _meter.CreateHistogram<double>("scheduler.placement.latency", "s", "Time a job waited in the queue (since submitted or requeued) until it was placed",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] });
        _loopLag = _meter.CreateHistogram<double>("scheduler.loop.lag", "s", "Scheduling-pass lag: from the oldest event of a batch entering the inbox to its view being published",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LoopBuckets });
        _storeWrite = _meter.CreateHistogram<double>("scheduler.store.write.duration", "s", "One write of job records to the store (a group of submits and reports, or a pass's placements), from the loop's call to durable",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LoopBuckets });
        _submitDuration = _meter.CreateHistogram<double>("scheduler.submit.duration", "s", "A Submit or SubmitBatch call inside the master: from its handler starting to its answer (stored, or refused)",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LoopBuckets });
        _migrations = _meter.CreateCounter<long>("scheduler.migrations", "{migration}", "Live migrations that ended, by outcome (moved or rolled_back)");
    }

    /// <summary>The meter's name and version, for the observable instruments other classes add to it.</summary>
    public Meter Meter => _meter;

    public void Submitted() => _submitted.Add(1);

    public void SubmitRefused() => _refused.Add(1);

    public void Requeued() => _requeued.Add(1);

    public void Preempted() => _preempted.Add(1);

    public void BecameLeader() => _terms.Add(1);

    /// <summary>The newest autoscaling signal, read by the hosts-delta gauge.</summary>
    public void ScalingAdvised(IReadOnlyList<Core.Scaling.ScalingAdvice> advice) => Volatile.Write(ref _scaling, advice);

    public void CheckpointStored(string purpose) => _checkpoints.Add(1, new KeyValuePair<string, object?>("purpose", purpose));

    public void Migrated(long downtimeMs) => _migrationDowntime.Record(downtimeMs);

    public void MigrationEnded(string outcome) => _migrations.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    public void Placed(TimeSpan waited) => _placementLatency.Record(Math.Max(0, waited.TotalSeconds));

    public void LoopLag(TimeSpan lag) => _loopLag.Record(lag.TotalSeconds);

    public void StoreWrite(TimeSpan elapsed) => _storeWrite.Record(elapsed.TotalSeconds);

    /// <summary>A submit call's time inside the master; <paramref name="call"/> is "submit" or "batch".</summary>
    public void SubmitAnswered(TimeSpan elapsed, string call) => _submitDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("call", call));

    public void Rebalanced(string mode, int started, int skipped)
    {
        _rebalanceMoves.Add(started, new KeyValuePair<string, object?>("mode", mode), new KeyValuePair<string, object?>("outcome", "started"));
        _rebalanceMoves.Add(skipped, new KeyValuePair<string, object?>("mode", mode), new KeyValuePair<string, object?>("outcome", "skipped"));
    }

    public void Finished(string state) => _finished.Add(1, new KeyValuePair<string, object?>("state", state));

    public void RecordPass(TimeSpan elapsed, int waiting, int placed)
    {
        _placed.Add(placed);
        _passDuration.Record(elapsed.TotalSeconds, new KeyValuePair<string, object?>("waiting", waiting > 1000 ? "1000+" : "under1000"));
    }

    public void Dispose() => _meter.Dispose();
}
