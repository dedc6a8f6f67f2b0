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

    /// <summary>The effective user id of this process (0 for root).</summary>
    public static uint EffectiveUserId => GetEffectiveUserId();

    /// <summary>Looks a user up by name in the system's user database (files, LDAP, whatever NSS has).</summary>
    public static bool TryGetUser(string name, out uint uid, out uint gid)
    {
        uid = gid = 0;
        if (name.Length == 0 || name.Contains('\0', StringComparison.Ordinal))
        {
            return false;
        }

        // struct passwd { char *pw_name; char *pw_passwd; uid_t pw_uid; gid_t pw_gid; ... }
        var entry = GetPasswordEntry(name);
        if (entry == IntPtr.Zero)
        {
            return false;
        }

        uid = (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
        gid = (uint)Marshal.ReadInt32(entry, (2 * IntPtr.Size) + 4);
        return true;
    }

    /// <summary>Gives <paramref name="path"/> to a user and group; a link is changed itself, never followed.</summary>
    public static void Chown(string path, uint uid, uint gid)
    {
        if (LChown(path, uid, gid) != 0)
        {
            throw new IOException($"cannot give {path} to uid {uid}: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();

    [LibraryImport("libc", EntryPoint = "getpwnam", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr GetPasswordEntry(string name);

    [LibraryImport("libc", EntryPoint = "lchown", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int LChown(string path, uint uid, uint gid);

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
