using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Opens a file for writing with O_DIRECT (the page cache bypassed), which .NET's file APIs do not
/// offer on Unix. Writes through such a handle need page-aligned buffers, offsets and lengths.
/// </summary>
internal static partial class DirectFile
{
    private const int WriteOnly = 0x1;
    private const int CloseOnExec = 0x80000;

    /// <summary>A write handle, or null where O_DIRECT is not available (not Linux, an unknown architecture, or a file system that refuses it).</summary>
    public static SafeFileHandle? TryOpenForWrite(string path)
    {
        if (!OperatingSystem.IsLinux() || DirectFlag() is not { } direct)
        {
            return null;
        }

        var fd = Open(path, WriteOnly | CloseOnExec | direct);
        return fd < 0 ? null : new SafeFileHandle(fd, ownsHandle: true);
    }

    // O_DIRECT's value differs between architectures.
    private static int? DirectFlag() => RuntimeInformation.ProcessArchitecture switch
    {
        Architecture.X64 or Architecture.X86 => 0x4000,
        Architecture.Arm64 or Architecture.Arm => 0x10000,
        _ => null,
    };

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);
}
