using System.Diagnostics;

namespace Scheduler.Cli.Local;

/// <summary>Finds the etcd server binary, installing it through deploy/ensure-etcd.sh (as `./build.sh test` does) when it is missing.</summary>
internal static class EtcdBinary
{
    private const string DebianPath = "/usr/bin/etcd";
    private const string Missing = "etcd not found: install the Debian package etcd-server (deploy/ensure-etcd.sh installs it when run as root)";

    /// <summary>etcd on PATH or at /usr/bin/etcd; null when neither.</summary>
    public static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append(Path.GetDirectoryName(DebianPath)!)
            .Select(dir => Path.Combine(dir, "etcd"))
            .FirstOrDefault(File.Exists);

    /// <summary>The etcd binary, after running deploy/ensure-etcd.sh if it was missing; its messages go to our stderr.</summary>
    public static async Task<string> EnsureAsync(CancellationToken ct)
    {
        if (Find() is { } found)
        {
            return found;
        }

        var script = LocateScript() ?? throw new IOException(Missing);
        var info = new ProcessStartInfo("/bin/bash") { UseShellExecute = false };
        info.ArgumentList.Add(script);
        using (var process = Process.Start(info) ?? throw new IOException($"could not run {script}"))
        {
            await process.WaitForExitAsync(ct);
        }

        return Find() ?? throw new IOException(Missing);
    }

    /// <summary>deploy/ensure-etcd.sh in the checkout schedctl was built from, or under the current folder.</summary>
    private static string? LocateScript()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "deploy", "ensure-etcd.sh");
                if (File.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
