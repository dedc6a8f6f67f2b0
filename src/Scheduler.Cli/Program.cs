using System.CommandLine;
using Scheduler.Cli;
using Scheduler.Cli.Commands;

var root = new RootCommand("schedctl: operate the GPU agent scheduler")
{
    Cli.Master,
    Cli.Output,
    Cli.Token,
    Cli.Ca,
    Cli.Cert,
    Cli.Key,
    Cli.Insecure,
    CertsCommand.Create(),
    SubmitCommand.Create(),
    JobsCommands.Create(),
    JobsCommands.Logs(),
    NodesCommands.Create(),
    NodesCommands.Status(),
    NodesCommands.Leader(),
    SnapshotCommands.Create(),
    TopCommand.Create(),
    TokensCommands.Create(),

    // Shortcuts for the everyday verbs, so `schedctl cancel ID` works as well as `schedctl jobs cancel ID`.
    JobsCommands.Get(),
    JobsCommands.Cancel(),
    JobsCommands.Migrate(),
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
return await Cli.InvokeAsync(root, args);
