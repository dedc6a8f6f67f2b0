using System.Globalization;

namespace Scheduler.Cli;

/// <summary>Resource quantities as people write them: CPU "2", "0.5", "500m"; memory "4Gi", "512Mi", "1G", "1024" (MiB).</summary>
internal static class Quantities
{
    public static long CpuMillis(string text, string field)
    {
        var t = text.Trim();
        if (t.EndsWith('m') && long.TryParse(t[..^1], NumberStyles.None, CultureInfo.InvariantCulture, out var millis))
        {
            return millis;
        }

        if (decimal.TryParse(t, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var cores))
        {
            return (long)Math.Round(cores * 1000m);
        }

        if (UnitOf(t) is { } unit)
        {
            throw new FormatException($"{field}: '{text}' has unit '{unit}', which CPU does not take: give cores (2, 0.5) or millicores (500m)");
        }

        throw new FormatException($"{field}: '{text}' is not a CPU quantity (e.g. 2, 0.5, 500m)");
    }

    public static long MemoryMib(string text, string field)
    {
        var t = text.Trim();
        (string Suffix, decimal MibPerUnit)[] units =
        [
            ("Ti", 1024m * 1024m), ("Gi", 1024m), ("Mi", 1m), ("Ki", 1m / 1024m),
            ("T", 1_000_000_000_000m / 1_048_576m), ("G", 1_000_000_000m / 1_048_576m), ("M", 1_000_000m / 1_048_576m),
        ];
        foreach (var (suffix, factor) in units)
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal)
                && decimal.TryParse(t[..^suffix.Length], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            {
                return (long)Math.Ceiling(value * factor);
            }
        }

        if (long.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var mib))
        {
            return mib;
        }

        if (UnitOf(t) is { } unit)
        {
            throw new FormatException($"{field}: '{text}' has unit '{unit}', which is not supported: use Ki, Mi, Gi, Ti (powers of 1024), M, G, T (powers of 1000), or a plain number of MiB");
        }

        throw new FormatException($"{field}: '{text}' is not a memory quantity (e.g. 4Gi, 512Mi, 1024)");
    }

    // The letters after a well-formed number ("Pi" in "10Pi"), or null when the text is not a number with a unit.
    private static string? UnitOf(string text)
    {
        var end = 0;
        while (end < text.Length && (char.IsAsciiDigit(text[end]) || text[end] == '.'))
        {
            end++;
        }

        var unit = text[end..];
        return end > 0 && unit.Length > 0 && unit.All(char.IsAsciiLetter)
            && decimal.TryParse(text[..end], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out _)
            ? unit
            : null;
    }

    /// <summary>Parses KEY=VALUE pairs (the value may contain '=').</summary>
    public static Dictionary<string, string> Pairs(IEnumerable<string> items, string field)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            var eq = item.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"{field}: '{item}' is not KEY=VALUE");
            }

            result[item[..eq]] = item[(eq + 1)..];
        }

        return result;
    }
}
