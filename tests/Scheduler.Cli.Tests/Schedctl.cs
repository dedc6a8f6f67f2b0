using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>Runs the built schedctl as a process, as a user would, bounded in time and killed by PID.</summary>
internal static class Schedctl
{
    public static Task<(int ExitCode, string Out, string Err)> RunAsync(string? master, TimeSpan? timeout, params string[] args) =>
        RunInAsync(null, null, master, timeout, args);

    /// <summary>The flags that point schedctl at the certificates `schedctl up --dir <paramref name="clusterDir"/>` made (its CA and client:schedctl).</summary>
    public static string[] LocalTls(string clusterDir)
    {
        var certs = Path.Combine(clusterDir, Local.LocalCertificates.FolderName);
        return ["--ca", Path.Combine(certs, "ca.crt"), "--cert", Local.LocalCertificates.ClientCertificatePath(certs), "--key", Local.LocalCertificates.ClientKeyPath(certs)];
    }

    /// <summary>
    /// Runs schedctl in <paramref name="workingDirectory"/> as a user in that folder would, with no TLS or token
    /// settings in its environment: it finds the CA, its client certificate and the admin token of
    /// `schedctl up` in ./.scheduler/local by itself.
    /// </summary>
    public static async Task<(int ExitCode, string Out, string Err)> RunInFolderAsync(string workingDirectory, string? master, params string[] args)
    {
        string[] all = master is null ? args : ["--master", master, .. args];
        var result = await DotnetCommand.RunAsync(
            Artifacts.SchedctlDll,
            all,
            workingDirectory,
            null,
            new Dictionary<string, string?>
            {
                ["SCHEDULER_MASTER"] = null,
                ["SCHEDULER_CA"] = null,
                ["SCHEDULER_CERT"] = null,
                ["SCHEDULER_KEY"] = null,
                ["SCHEDULER_INSECURE"] = null,
                ["SCHED_TOKEN"] = null,
            });
        return (result.ExitCode, result.Out, result.Err);
    }

    /// <summary>Runs schedctl in <paramref name="workingDirectory"/> with SCHEDULER_MASTER set to <paramref name="masterEnv"/> (unset when null).</summary>
    public static async Task<(int ExitCode, string Out, string Err)> RunInAsync(string? workingDirectory, string? masterEnv, string? master, TimeSpan? timeout, params string[] args)
    {
        string[] all = master is null ? args : ["--master", master, .. args];
        var result = await DotnetCommand.RunAsync(
            Artifacts.SchedctlDll,
            all,
            workingDirectory,
            timeout,
            new Dictionary<string, string?>(TestCertificates.SchedctlEnvironment()) { ["SCHEDULER_MASTER"] = masterEnv });
        return (result.ExitCode, result.Out, result.Err);
    }
}
