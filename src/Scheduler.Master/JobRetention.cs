using System.Globalization;
using Microsoft.Extensions.Options;
using Scheduler.Hosting;

namespace Scheduler.Master;

/// <summary>
/// How long finished jobs are kept: --job-retention (a duration such as 30s, 10m, 24h or 7d; 0 keeps
/// them forever) when given, otherwise --job-retention-hours (whole hours); never sooner than
/// --request-id-window after the job's submission. Checked by <see cref="Validate"/> before the host
/// starts, naming the flag.
/// </summary>
internal sealed class JobRetention : IValidateOptions<MasterOptions>
{
    /// <summary>The longest retention accepted: a hundred years, as --job-retention-hours allows.</summary>
    public static readonly TimeSpan Max = DurationText.Max;

    /// <summary>The retention in force; <see cref="TimeSpan.Zero"/> keeps finished jobs forever.</summary>
    public static TimeSpan Of(MasterOptions options) =>
        options.JobRetention.Length > 0 && TryParse(options.JobRetention, out var retention)
            ? retention
            : TimeSpan.FromHours(Math.Max(0, options.JobRetentionHours));

    /// <summary>
    /// How long after its submission a job is kept whatever the retention (--request-id-window): the floor
    /// under retention that keeps a retried submit from making a second job once the first has finished and
    /// been deleted. <see cref="TimeSpan.Zero"/>: no floor.
    /// </summary>
    public static TimeSpan RequestIdWindowOf(MasterOptions options) =>
        TryParse(options.RequestIdWindow, out var window) ? window : TimeSpan.Zero;

    /// <summary>Reads a whole number followed by s, m, h or d ("0" alone is also read as zero).</summary>
    public static bool TryParse(string text, out TimeSpan duration) => DurationText.TryParse(text, out duration);

    public ValidateOptionsResult Validate(string? name, MasterOptions options)
    {
        if (options.JobRetention.Length > 0 && !TryParse(options.JobRetention, out _))
        {
            return ValidateOptionsResult.Fail(
                $"--job-retention (Master:JobRetention) must be a whole number of seconds, minutes, hours or days such as 30s, 10m, 24h or 7d (0 keeps finished jobs forever), at most {Max.TotalDays:F0}d; got '{options.JobRetention}'");
        }

        if (!TryParse(options.RequestIdWindow, out _))
        {
            return ValidateOptionsResult.Fail(
                $"--request-id-window (Master:RequestIdWindow) must be a whole number of seconds, minutes, hours or days such as 30s, 10m, 24h or 7d (0: request ids are forgotten with their jobs), at most {Max.TotalDays:F0}d; got '{options.RequestIdWindow}'");
        }

        return ValidateOptionsResult.Success;
    }
}
