using Scheduler.Contracts.V1;

namespace Scheduler.Master.Validation;

/// <summary>
/// Fills in the defaults a spec leaves unset, so the stored and returned spec says what applies: a job
/// submitted without a priority shows priority 100 in `jobs`, `get` and JSON, as it is scheduled, not 0.
/// </summary>
internal static class JobSpecDefaults
{
    public const int Priority = 100;
    public const int MaxRetries = 3;

    public static JobSpec Apply(JobSpec spec)
    {
        if (spec.Priority != 0 && spec.HasMaxRetries)
        {
            return spec;
        }

        var effective = spec.Clone();
        if (effective.Priority == 0)
        {
            effective.Priority = Priority;
        }

        if (!effective.HasMaxRetries)
        {
            effective.MaxRetries = MaxRetries;
        }

        return effective;
    }
}
