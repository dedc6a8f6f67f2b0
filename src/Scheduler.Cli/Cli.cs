using System.CommandLine;
using Grpc.Core;
using Scheduler.Client;

namespace Scheduler.Cli;

/// <summary>Options every command shares, and the one place errors become exit codes.</summary>
internal static class Cli
{
    public const int Ok = 0;
    public const int JobFailed = 1;
    public const int Error = 2;

    public static readonly Option<string?> Master = new("--master")
    {
        Description = "Master URL(s), comma separated (env SCHEDULER_MASTER; default: the cluster `schedctl up` started, else http://127.0.0.1:7070)",
        Recursive = true,
    };

    public static readonly Option<string> Output = new Option<string>("--output", "-o")
    {
        Description = "table, wide or json",
        Recursive = true,
        DefaultValueFactory = _ => "table",
    }.AcceptOnlyFromAmong("table", "wide", "json");

    public static string ResolveMaster(ParseResult parse)
    {
        if (parse.GetValue(Master) is { Length: > 0 } flag)
        {
            return flag;
        }

        if (Environment.GetEnvironmentVariable("SCHEDULER_MASTER") is { Length: > 0 } env)
        {
            return env;
        }

        var local = Path.Combine(Local.LocalCluster.DefaultDirectory, "master", "master.addr");
        return File.Exists(local) ? File.ReadAllText(local).Trim() : "http://127.0.0.1:7070";
    }

    /// <summary>Runs a command body against the master, mapping failures to one stderr line and exit code 2.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Action(Func<ParseResult, SchedulerClient, Printer, CancellationToken, Task<int>> body) =>
        (parse, ct) => RunAsync(parse, body, ct);

    private static async Task<int> RunAsync(ParseResult parse, Func<ParseResult, SchedulerClient, Printer, CancellationToken, Task<int>> body, CancellationToken ct)
    {
        var printer = new Printer(parse.GetValue(Output) ?? "table", parse.InvocationConfiguration.Output);
        var error = parse.InvocationConfiguration.Error;
        try
        {
            var addresses = SchedulerClientOptions.ParseAddresses(ResolveMaster(parse));
            await using var client = new SchedulerClient(new SchedulerClientOptions { Addresses = addresses });
            return await body(parse, client, printer, ct);
        }
        catch (RpcException ex)
        {
            await error.WriteLineAsync($"error: {ex.StatusCode}: {ex.Status.Detail}");
            return Error;
        }
        catch (Exception ex) when (ex is MasterUnreachableException or FormatException or IOException)
        {
            await error.WriteLineAsync($"error: {ex.Message}");
            return Error;
        }
    }
}
