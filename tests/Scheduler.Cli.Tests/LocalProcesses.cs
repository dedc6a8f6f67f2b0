using System.Text;
using TestPosix = Scheduler.Tests.Common.Posix;

namespace Scheduler.Cli.Tests;

/// <summary>What a local cluster left behind, found from /proc rather than from what it says it started.</summary>
internal static class LocalProcesses
{
    /// <summary>Live processes whose command line or environment names <paramref name="dir"/>.</summary>
    public static List<int> Mentioning(string dir)
    {
        var needle = Encoding.UTF8.GetBytes(dir);
        var found = new List<int>();
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid) || pid == Environment.ProcessId || !TestPosix.IsAlive(pid))
            {
                continue;
            }

            try
            {
                if (File.ReadAllBytes(Path.Combine(entry, "cmdline")).AsSpan().IndexOf(needle) >= 0
                    || File.ReadAllBytes(Path.Combine(entry, "environ")).AsSpan().IndexOf(needle) >= 0)
                {
                    found.Add(pid);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
            }
        }

        return found;
    }

    /// <summary>SIGKILLs each of <paramref name="pids"/> and everything that names <paramref name="dir"/>: the cleanup of a failed test.</summary>
    public static void KillAll(string dir, IEnumerable<int> pids)
    {
        foreach (var pid in pids.Concat(Mentioning(dir)).Distinct())
        {
            if (pid != Environment.ProcessId)
            {
                TestPosix.Signal(pid, TestPosix.SigKill);
            }
        }
    }

    /// <summary>For a failure message: which of the processes started under <paramref name="dir"/> still run, and the end of every log there.</summary>
    public static string Diagnose(string dir)
    {
        var text = new StringBuilder();
        foreach (var pid in Mentioning(dir))
        {
            var cmdline = File.Exists($"/proc/{pid}/cmdline") ? File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ') : "?";
            text.AppendLine($"still running: {pid} {cmdline}");
        }

        foreach (var log in Directory.EnumerateFiles(dir, "*.log", SearchOption.AllDirectories))
        {
            var content = File.ReadAllText(log);
            text.AppendLine($"--- {log} (last 3000 characters)").AppendLine(content.Length > 3000 ? content[^3000..] : content);
        }

        return text.ToString();
    }
}
