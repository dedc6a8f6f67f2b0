using System.Runtime.InteropServices;

namespace Scheduler.Cli;

internal static partial class Posix
{
    public const int SigTerm = 15;

    public static bool Signal(int pid, int signal) => Kill(pid, signal) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
