using System.Runtime.InteropServices;

namespace Scheduler.Tests.Common;

/// <summary>Signals by PID, which .NET's Process API lacks (it can only SIGKILL).</summary>
public static partial class Posix
{
    public const int SigKill = 9;
    public const int SigTerm = 15;
    public const int SigInt = 2;
    public const int SigCont = 18;
    public const int SigStop = 19;

    public static bool Signal(int pid, int signal) => kill(pid, signal) == 0;

    /// <summary>
    /// Ctrl+C for <paramref name="pid"/>: SIGINT, or SIGTERM where this process inherited SIGINT
    /// ignored (a CI runner started in the background, nohup): a child inherits that too, and the
    /// .NET runtime then leaves SIGINT ignored, so an "interrupt" could never arrive. The stop path
    /// under test is the same for both signals.
    /// </summary>
    public static bool Interrupt(int pid) => Signal(pid, IgnoresSigInt() ? SigTerm : SigInt);

    /// <summary>True when SIGINT is ignored in this process (bit 1 of SigIgn in /proc/self/status).</summary>
    public static bool IgnoresSigInt()
    {
        const string Path = "/proc/self/status";
        if (!File.Exists(Path))
        {
            return false;
        }

        var line = File.ReadLines(Path).FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null
            && ulong.TryParse(line["SigIgn:".Length..].Trim(), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture, out var mask)
            && (mask & (1UL << (SigInt - 1))) != 0;
    }

    /// <summary>True while a process with this PID exists and is not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        if (kill(pid, 0) != 0)
        {
            return false;
        }

        try
        {
            // A zombie still answers kill(0) until its parent reaps it, but it runs nothing.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..][0];
            return state != 'Z' && state != 'X';
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The effective user id of the tests (0 when they run as root).</summary>
    public static uint EffectiveUserId() => geteuid();

    [DllImport("libc")]
    private static extern uint geteuid();

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054, CA5392 // plain libc call; no marshalling to generate
    private static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054, CA5392
}
