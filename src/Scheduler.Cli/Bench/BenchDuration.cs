using System.Globalization;

namespace Scheduler.Cli.Bench;

/// <summary>
/// A duration as the master reads --job-retention and --request-id-window: a whole number followed by
/// s, m, h or d, or 0 alone; at most a hundred years. Checked here so a wrong value is refused before
/// any process starts.
/// </summary>
internal static class BenchDuration
{
    private static readonly TimeSpan Max = TimeSpan.FromHours(100 * 8766);

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
