using System.Reflection;

namespace Scheduler.Hosting;

/// <summary>
/// What a host (master or worker) makes of its arguments before it builds itself: `--help` and
/// `--version` print and exit 0, and a flag it does not know is one error line and exit 2 (the
/// configuration binder would ignore it, so a typo would start a server on defaults). Compiled into
/// each host: they share no other assembly.
/// </summary>
internal static class HostCommandLine
{
    public const int UsageError = 2;

    /// <summary>The exit code when the process should stop here, or null to go on and start.</summary>
    public static int? Handle(
        string program,
        string section,
        string help,
        IReadOnlyList<string> args,
        IReadOnlyDictionary<string, string> switches,
        IReadOnlyCollection<string> bareFlags,
        TextWriter output,
        TextWriter error)
    {
        if (args.Any(a => a is "--help" or "-h" or "-?"))
        {
            output.Write(help);
            output.WriteLine();
            return 0;
        }

        if (args.Contains("--version"))
        {
            var version = Assembly.GetEntryAssembly()?.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
            output.WriteLine($"{program} {version}");
            return 0;
        }

        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (bareFlags.Contains(arg))
            {
                continue;
            }

            var name = arg.Split('=', 2)[0];
            var known = switches.ContainsKey(name)
                || name.StartsWith($"--{section}:", StringComparison.OrdinalIgnoreCase)
                || name.StartsWith("--Logging:", StringComparison.OrdinalIgnoreCase);
            if (!known)
            {
                error.WriteLine(arg.StartsWith('-')
                    ? $"error: unknown option '{name}' (see {program} --help)"
                    : $"error: unexpected argument '{arg}' (see {program} --help)");
                return UsageError;
            }

            if (name.Length == arg.Length && ++i == args.Count)
            {
                error.WriteLine($"error: {name} needs a value (see {program} --help)");
                return UsageError;
            }
        }

        return null;
    }
}
