using System.Diagnostics;

namespace Scheduler.Tests.Common;

/// <summary>What a command printed and how it exited.</summary>
public sealed record CommandResult(int ExitCode, string Out, string Err);

/// <summary>Runs a built executable to completion as a user would, bounded in time and killed by PID if it overstays.</summary>
public static class DotnetCommand
{
    /// <summary>
    /// Runs `dotnet DLL ARGS` (or the file itself when <paramref name="dll"/> is no .dll) in
    /// <paramref name="workingDirectory"/>; <paramref name="env"/> entries with a null value are removed.
    /// </summary>
    public static async Task<CommandResult> RunAsync(
        string dll,
        IEnumerable<string> args,
        string? workingDirectory = null,
        TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string?>? env = null)
    {
        var isDll = dll.EndsWith(".dll", StringComparison.Ordinal);
        var info = new ProcessStartInfo(isDll ? "dotnet" : dll)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        if (isDll)
        {
            info.ArgumentList.Add(dll);
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in env ?? new Dictionary<string, string?>())
        {
            if (value is null)
            {
                info.Environment.Remove(key);
            }
            else
            {
                info.Environment[key] = value;
            }
        }

        using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {dll}");
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
            Assert.Fail($"{Path.GetFileName(dll)} {string.Join(' ', info.ArgumentList.Skip(isDll ? 1 : 0))} did not finish in time:\n{await stdout}\n{await stderr}");
        }

        return new CommandResult(process.ExitCode, await stdout, await stderr);
    }
}
