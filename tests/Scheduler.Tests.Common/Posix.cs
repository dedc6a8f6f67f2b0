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

    [DllImport("libc", SetLastError = true)]
#pragma warning disable SYSLIB1054, CA5392 // plain libc call; no marshalling to generate
    private static extern int kill(int pid, int sig);
#pragma warning restore SYSLIB1054, CA5392
}
