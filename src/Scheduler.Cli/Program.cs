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
    UpCommand.Create(),
    DemoCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
