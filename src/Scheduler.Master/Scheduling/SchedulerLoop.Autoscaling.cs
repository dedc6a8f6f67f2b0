using System.Collections.Immutable;
using Scheduler.Core.Scaling;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The autoscaling signal: the loop observes what each kind of host uses a few times per interval and,
/// every interval, asks the <see cref="ScalingAdvisor"/> how many hosts of each kind to add or remove
/// for what waits (a gang with every replica, all or nothing) and what ran lately. The advice is
/// published in the view (status, metrics) and, when it changed, sent to the webhook.
/// </summary>
internal sealed partial class SchedulerLoop
{
    private ScalingAdvisor? _scaling;
    private ScalingWebhook? _scalingWebhook;
    private DateTimeOffset _nextScalingObservation;
    private DateTimeOffset _nextScalingAdvice;

    private void AdviseScalingIfDue(DateTimeOffset now)
    {
        if (_options.AutoscaleIntervalSeconds <= 0)
        {
            return;
        }

        var interval = TimeSpan.FromSeconds(_options.AutoscaleIntervalSeconds);
        if (_scaling is null)
        {
            _scaling = new ScalingAdvisor(new ScalingOptions
            {
                Window = TimeSpan.FromSeconds(_options.AutoscaleWindowSeconds),
                SpareHosts = _options.AutoscaleSpareHosts,
            });
            _nextScalingAdvice = now + interval;
        }

        if (now >= _nextScalingObservation)
        {
            // A few observations per interval, so a short peak between two advices still counts.
            _scaling.Observe(now, _nodes.Values.Select(n => n.State));
            _nextScalingObservation = now + (interval / 6);
        }

        if (now < _nextScalingAdvice)
        {
            return;
        }

        _nextScalingAdvice = now + interval;
        var advice = _scaling.Advise(now, [.. _nodes.Values.Select(n => n.State)], [.. _pending.Select(id => new PendingDemand(ProtoMapping.ToDemand(_jobs[id]), _jobs[id].Size))]).ToImmutableArray();
        if (advice.SequenceEqual(_published.Scaling))
        {
            return;
        }

        _published.Scaling = advice;
        _metrics.ScalingAdvised(advice);
        _scalingWebhook?.Send(now, advice);
        LogScaling(advice.Length == 0 ? "no change needed" : string.Join("; ", advice.Select(a => $"{a.Model} {a.Delta:+#;-#;0}: {a.Reason}")));
    }

    [LoggerMessage(51, LogLevel.Information, "Autoscaling signal: {Advice}")]
    private partial void LogScaling(string advice);
}
