using System.Globalization;

namespace Scheduler.Hosting;

/// <summary>
/// A duration as the master's flags take it (--job-retention, --request-id-window): a whole number followed by
/// s, m, h or d, or 0 alone; at most a hundred years. One reader for the master and for the tools that check
/// such a value before starting one, so the two cannot disagree.
/// </summary>
internal static class DurationText
{
    /// <summary>The longest duration accepted: a hundred years.</summary>
    public static readonly TimeSpan Max = TimeSpan.FromHours(100 * 8766);

    public static bool TryParse(string? text, out TimeSpan duration)
    {
        duration = TimeSpan.Zero;
        var trimmed = text?.Trim() ?? "";
        if (trimmed == "0")
        {
            return true;
        }

        if (trimmed.Length < 2 || !long.TryParse(trimmed.AsSpan(0, trimmed.Length - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            return false;
        }

        double? seconds = trimmed[^1] switch
        {
            's' => count,
            'm' => count * 60.0,
            'h' => count * 3600.0,
            'd' => count * 86_400.0,
            _ => null,
        };
        if (seconds is not { } s || s > Max.TotalSeconds)
        {
            return false;
        }

        duration = TimeSpan.FromSeconds(s);
        return true;
    }
}
