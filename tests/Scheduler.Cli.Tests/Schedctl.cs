using System.Diagnostics;
using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>Runs the built schedctl as a process, as a user would, bounded in time and killed by PID.</summary>
internal static class Schedctl
{
    public static Task<(int ExitCode, string Out, string Err)> RunAsync(string? master, TimeSpan? timeout, params string[] args) =>
        RunInAsync(null, null, master, timeout, args);

    /// <summary>Runs schedctl in <paramref name="workingDirectory"/> with SCHEDULER_MASTER set to <paramref name="masterEnv"/> (unset when null).</summary>
    public static async Task<(int ExitCode, string Out, string Err)> RunInAsync(string? workingDirectory, string? masterEnv, string? master, TimeSpan? timeout, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        info.ArgumentList.Add(Artifacts.SchedctlDll);
        if (master is not null)
        {
            info.ArgumentList.Add("--master");
            info.ArgumentList.Add(master);
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("SCHEDULER_MASTER");
        if (masterEnv is not null)
        {
            info.Environment["SCHEDULER_MASTER"] = masterEnv;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            Assert.Fail($"schedctl {string.Join(' ', args)} did not finish in time:\n{await stdout}\n{await stderr}");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
