using System.CommandLine;
using Scheduler.Cli;
using Scheduler.Cli.Commands;

var root = new RootCommand("schedctl: operate the GPU agent scheduler")
{
    Cli.Master,
    Cli.Output,
    SubmitCommand.Create(),
    JobsCommands.Create(),
    JobsCommands.Logs(),
    NodesCommands.Create(),
    NodesCommands.Status(),
    NodesCommands.Leader(),

    // Shortcuts for the everyday verbs, so `schedctl cancel ID` works as well as `schedctl jobs cancel ID`.
    JobsCommands.Get(),
    JobsCommands.Cancel(),
    JobsCommands.Watch(),
    JobsCommands.WaitCommand(),
    NodesCommands.Cordon(),
    NodesCommands.Uncordon(),
    NodesCommands.Drain(),
    UpCommand.Create(),
    DemoCommand.Create(),
    SimCommand.Create(),
    BenchCommand.Create(),
};
// Ctrl+C cancels the command; `up` and `demo` then stop their cluster, which takes a few seconds
// (workers hand their jobs back first). The default 2 s would end schedctl midway and orphan them.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = TimeSpan.FromSeconds(60) });
