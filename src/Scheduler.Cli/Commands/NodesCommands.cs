using System.CommandLine;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl nodes list|describe|cordon|uncordon|drain`, `schedctl status` and `schedctl leader`.</summary>
internal static class NodesCommands
{
    private static readonly Argument<string> Id = new("node") { Description = "Node id" };

    public static Command Create()
    {
        var nodes = new Command("nodes", "List, inspect, cordon and drain nodes");
        nodes.Aliases.Add("node");
        var listAction = Cli.Action(async (parse, client, printer, ct) =>
        {
            printer.Nodes(await client.ListNodesAsync(ct));
            return Cli.Ok;
        });
        var list = new Command("list", "List nodes");
        list.SetAction(listAction);
        nodes.Add(list);
        nodes.Add(Describe());
        nodes.Add(Cordon());
        nodes.Add(Uncordon());
        nodes.Add(Drain());
        nodes.SetAction(listAction);
        return nodes;
    }

    public static Command Describe()
    {
        var describe = new Command("describe", "Show a node with its GPUs and their telemetry") { Id };
        describe.Aliases.Add("get");
        describe.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            printer.Node(await client.DescribeNodeAsync(parse.GetValue(Id)!, ct));
            return Cli.Ok;
        }));
        return describe;
    }

    public static Command Cordon()
    {
        var cordon = new Command("cordon", "Place no new jobs on a node") { Id };
        cordon.SetAction(Cli.Action(async (parse, client, printer, ct) =>
            Done(printer, await client.CordonAsync(parse.GetValue(Id)!, ct), "cordoned")));
        return cordon;
    }

    public static Command Uncordon()
    {
        var uncordon = new Command("uncordon", "Allow new jobs on a node again") { Id };
        uncordon.SetAction(Cli.Action(async (parse, client, printer, ct) =>
            Done(printer, await client.UncordonAsync(parse.GetValue(Id)!, ct), "uncordoned")));
        return uncordon;
    }

    public static Command Drain()
    {
        var reason = new Option<string?>("--reason") { Description = "Why, for the record" };
        var drain = new Command("drain", "Cordon a node and move its jobs elsewhere") { Id, reason };
        drain.SetAction(Cli.Action(async (parse, client, printer, ct) =>
            Done(printer, await client.DrainAsync(parse.GetValue(Id)!, parse.GetValue(reason), ct), "draining")));
        return drain;
    }

    public static Command Status()
    {
        var command = new Command("status", "Cluster summary: leader, nodes, allocation, jobs by state");
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            printer.Status(await client.GetClusterStatusAsync(ct));
            return Cli.Ok;
        }));
        return command;
    }

    public static Command Leader()
    {
        var command = new Command("leader", "Which master leads, and its epoch");
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var leader = await client.GetLeaderAsync(ct);
            if (printer.IsJson)
            {
                printer.Message(leader);
            }
            else
            {
                printer.Line($"{leader.MasterId} at {leader.Address} epoch {leader.Epoch} store {leader.Store}{(leader.IsLeader ? "" : " (answered by a standby)")}");
            }

            return Cli.Ok;
        }));
        return command;
    }

    private static int Done(Printer printer, Contracts.V1.Node node, string what)
    {
        if (printer.IsJson)
        {
            printer.Message(node);
        }
        else
        {
            printer.Line($"{node.Id} {what}");
        }

        return Cli.Ok;
    }
}
