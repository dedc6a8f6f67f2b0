using System.Buffers;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Migration ids and destination names become folder names on the target, so both are one plain
/// path component: letters, digits, '.', '_' and '-', at most 128 characters, never "." or "..".
/// </summary>
internal static class MigrationIds
{
    public const int MaxLength = 128;

    private static readonly SearchValues<char> Allowed =
        SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-");

    public static bool IsValid(string? name) =>
        name is { Length: > 0 and <= MaxLength } && name is not ("." or "..") && !name.AsSpan().ContainsAnyExcept(Allowed);

    public static void Check(string name)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException($"'{name}' is not a valid migration id", nameof(name));
        }
    }
}
