using System.Runtime.InteropServices;

namespace Scheduler.Worker.Agents;

/// <summary>Signals by PID; agents run in their own session, so a negative PID reaches the whole group.</summary>
internal static partial class Posix
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    /// <summary>Signals the process group led by <paramref name="pid"/>, then the process itself (in case it left the group).</summary>
    public static void SignalGroup(int pid, int signal)
    {
        _ = Kill(-pid, signal);
        _ = Kill(pid, signal);
    }

    public static void Signal(int pid, int signal) => _ = Kill(pid, signal);

    /// <summary>True while the process exists and is not a zombie waiting to be reaped.</summary>
    public static bool IsAlive(int pid)
    {
        if (Kill(pid, 0) != 0)
        {
            return false;
        }

        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)..][0] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
