using System.CommandLine;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Text.RegularExpressions;
using Grpc.Core;
using Scheduler.Client;

namespace Scheduler.Cli;

/// <summary>Options every command shares, and the one place errors become exit codes.</summary>
internal static partial class Cli
{
    public const int Ok = 0;
    public const int JobFailed = 1;
    public const int Error = 2;

    public static readonly Option<string?> Master = new("--master")
    {
        Description = "Master URL(s), comma separated (env SCHEDULER_MASTER; default: the cluster `schedctl up` or `up --ha` started, else http://127.0.0.1:7070)",
        Recursive = true,
    };

    public static readonly Option<string?> Token = new("--token")
    {
        Description = "Bearer token for a master started with --auth (env SCHED_TOKEN; default: the admin token of the cluster `schedctl up` started, in its folder)",
        Recursive = true,
    };

    /// <summary>The file in a local cluster's folder that holds its bootstrap admin token.</summary>
    public const string TokenFileName = "admin.token";
    public static readonly Option<string?> Ca = new("--ca")
    {
        Description = "The cluster CA (PEM) masters must chain to (env SCHEDULER_CA; default: DIR/certs/ca.crt of the cluster `schedctl up` started)",
        Recursive = true,
    };

    public static readonly Option<string?> Cert = new("--cert")
    {
        Description = "Client certificate (PEM, CN=client:NAME from `schedctl certs issue --client`) shown to masters (env SCHEDULER_CERT)",
        Recursive = true,
    };

    public static readonly Option<string?> Key = new("--key")
    {
        Description = "Private key of --cert (env SCHEDULER_KEY)",
        Recursive = true,
    };

    public static readonly Option<bool> Insecure = new("--insecure")
    {
        Description = "Plaintext: talk http:// to masters (env SCHEDULER_INSECURE=1); for up/demo/bench, run the local cluster without TLS. Logs a warning",
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

        if (Local.ClusterManifest.MasterAddresses(Local.LocalCluster.DefaultDirectory) is { } masters)
        {
            return masters;
        }

        var local = Path.Combine(Local.LocalCluster.DefaultDirectory, "master", "master.addr");
        return File.Exists(local) ? File.ReadAllText(local).Trim() : "http://127.0.0.1:7070";
    }

    /// <summary>The token to send: --token, else SCHED_TOKEN, else the local cluster's admin token file; null for none.</summary>
    public static string? ResolveToken(ParseResult parse)
    {
        if (parse.GetValue(Token) is { Length: > 0 } flag)
        {
            return flag;
        }

        if (Environment.GetEnvironmentVariable("SCHED_TOKEN") is { Length: > 0 } env)
        {
            return env.Trim();
        }

        var file = Path.Combine(Local.LocalCluster.DefaultDirectory, TokenFileName);
        return File.Exists(file) ? File.ReadAllText(file).Trim() : null;
    }

    /// <summary>
    /// Parses and runs. A command line that does not parse is one `error:` line and exit 2, like every other
    /// error: exit 1 means "the job failed" under --wait, and the whole help hides the line that matters.
    /// </summary>
    public static async Task<int> InvokeAsync(RootCommand root, string[] args)
    {
        var parse = root.Parse(args.Length == 0 ? ["--help"] : args);
        if (parse.Action is ParseErrorAction && parse.Errors.Count > 0)
        {
            var names = new List<string>();
            for (SymbolResult? result = parse.CommandResult; result is not null; result = result.Parent)
            {
                if (result is CommandResult command)
                {
                    names.Insert(0, command.Command.Name);
                }
            }

            await parse.InvocationConfiguration.Error.WriteLineAsync($"error: {Describe(parse.Errors)} (see {string.Join(' ', names)} --help)");
            return Error;
        }

        // Ctrl+C cancels the command; `up` and `demo` then stop their cluster, which takes a few seconds
        // (workers hand their jobs back first). The default 2 s would end schedctl midway and orphan them.
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) });
    }

    /// <summary>The parse error that says most, on one line and in the user's terms rather than .NET type names.</summary>
    internal static string Describe(IReadOnlyList<ParseError> errors)
    {
        var error = errors.FirstOrDefault(e => e.Message.StartsWith("Unrecognized", StringComparison.Ordinal)) ?? errors[0];
        var message = error.Message;
        if (CannotParse().Match(message) is { Success: true } m)
        {
            var expected = m.Groups["type"].Value switch
            {
                "System.Int32" or "System.Int64" or "System.Nullable`1[System.Int32]" or "System.Nullable`1[System.Int64]" => "a whole number",
                "System.Double" or "System.Nullable`1[System.Double]" => "a number",
                _ => "valid here",
            };
            return $"{m.Groups["name"].Value}: '{m.Groups["value"].Value}' is not {expected}";
        }

        return WhiteSpace().Replace(message, " ").Trim().TrimEnd('.');
    }

    /// <summary>Runs a local-cluster command (up, demo, bench), mapping what goes wrong starting processes to one stderr line and exit 2.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> LocalAction(Func<ParseResult, CancellationToken, Task<int>> body) =>
        async (parse, ct) =>
        {
            try
            {
                return await body(parse, ct);
            }
            catch (IOException ex)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"error: {ex.Message}");
                return Error;
            }
        };

    /// <summary>Runs a command body against the master, mapping failures to one stderr line and exit code 2.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> Action(Func<ParseResult, SchedulerClient, Printer, CancellationToken, Task<int>> body) =>
        (parse, ct) => RunAsync(parse, body, ct);

    private static async Task<int> RunAsync(ParseResult parse, Func<ParseResult, SchedulerClient, Printer, CancellationToken, Task<int>> body, CancellationToken ct)
    {
        var printer = new Printer(parse.GetValue(Output) ?? "table", parse.InvocationConfiguration.Output);
        var error = parse.InvocationConfiguration.Error;
        try
        {
            await using var client = new SchedulerClient(ClientTls.Resolve(parse, ResolveMaster(parse), error));
            return await body(parse, client, printer, ct);
        }
        catch (RpcException ex)
        {
            await error.WriteLineAsync($"error: {ex.StatusCode}: {ex.Status.Detail}");
            return Error;
        }
        catch (Exception ex) when (ex is MasterUnreachableException or FormatException or IOException or System.Security.Cryptography.CryptographicException)
        {
            await error.WriteLineAsync($"error: {ex.Message}");
            return Error;
        }
    }

    [GeneratedRegex(@"^Cannot parse argument '(?<value>.*)' for (option|command) '(?<name>.*)' as expected type '(?<type>.*)'\.", RegexOptions.Singleline)]
    private static partial Regex CannotParse();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}
