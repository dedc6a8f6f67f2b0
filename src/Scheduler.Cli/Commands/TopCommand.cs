using System.CommandLine;
using Grpc.Core;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl top`: nodes and GPUs (utilisation, memory, temperature, jobs), redrawn every interval until Ctrl+C.</summary>
internal static class TopCommand
{
    // Home, then clear to the end of the screen: redraws in place in any ANSI terminal (SSH included).
    private const string Redraw = "\u001b[H\u001b[J";

    public static Command Create()
    {
        var once = new Option<bool>("--once") { Description = "Print one frame and exit (for scripts and logs)" };
        var interval = new Option<double>("--interval", "-n") { Description = "Seconds between refreshes (default 1)", DefaultValueFactory = _ => 1.0 };
        var width = new Option<int?>("--width") { Description = "Columns to fit (default: the terminal's, or 80 when output is not a terminal)" };
        var command = new Command("top", "Live view of nodes and GPUs: utilisation, memory, temperature, jobs") { once, interval, width };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var seconds = parse.GetValue(interval);
            if (seconds is < 0.1 or > 3600)
            {
                throw new FormatException("--interval must be between 0.1 and 3600 seconds");
            }

            var columns = parse.GetValue(width) ?? TerminalWidth();
            if (parse.GetValue(once))
            {
                var (status, nodes) = await FetchAsync(client, ct);
                if (printer.IsJson)
                {
                    var list = new ListNodesResponse();
                    list.Nodes.Add(nodes);
                    printer.Message(list);
                    return Cli.Ok;
                }

                Write(printer.Writer, TopFrame.Render(status, nodes, DateTimeOffset.Now, columns));
                return Cli.Ok;
            }

            return await LiveAsync(client, printer.Writer, TimeSpan.FromSeconds(seconds), columns, ct);
        }));
        return command;
    }

    private static async Task<int> LiveAsync(SchedulerClient client, TextWriter output, TimeSpan every, int columns, CancellationToken ct)
    {
        var inPlace = !Console.IsOutputRedirected;
        using var timer = new PeriodicTimer(every);
        try
        {
            do
            {
                IReadOnlyList<string> frame;
                try
                {
                    var (status, nodes) = await FetchAsync(client, ct);
                    frame = TopFrame.Render(status, nodes, DateTimeOffset.Now, columns);
                }
                catch (Exception ex) when (ex is RpcException or MasterUnreachableException && !ct.IsCancellationRequested)
                {
                    // A master restarting or failing over: keep the view up and say so; the next tick tries again.
                    var detail = ex is RpcException rpc ? $"{rpc.StatusCode}: {rpc.Status.Detail}" : ex.Message;
                    frame = [$"schedctl top  {DateTimeOffset.Now:HH:mm:ss}  cannot reach the master ({detail}); retrying"];
                }

                if (inPlace)
                {
                    await output.WriteAsync(Redraw);
                }
                else
                {
                    await output.WriteLineAsync();
                }

                Write(output, frame);
                await output.FlushAsync(ct);
            }
            while (await timer.WaitForNextTickAsync(ct));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        return Cli.Ok;
    }

    private static async Task<(ClusterStatus Status, IReadOnlyList<Node> Nodes)> FetchAsync(SchedulerClient client, CancellationToken ct)
    {
        var status = client.GetClusterStatusAsync(ct);
        var nodes = client.ListNodesAsync(ct);
        return (await status, await nodes);
    }

    private static void Write(TextWriter output, IReadOnlyList<string> frame)
    {
        foreach (var line in frame)
        {
            output.WriteLine(line);
        }
    }

    private static int TerminalWidth()
    {
        if (Console.IsOutputRedirected)
        {
            return 80;
        }

        try
        {
            return Console.WindowWidth > 0 ? Console.WindowWidth : 80;
        }
        catch (IOException)
        {
            return 80;
        }
    }
}
