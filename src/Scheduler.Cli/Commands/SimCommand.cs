using System.CommandLine;
using Scheduler.Simulation;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl sim`: trace replay through the real Core placement (see <see cref="SimCli"/>).</summary>
internal static class SimCommand
{
    public static Command Create()
    {
        var command = new Command("sim", "Replay a GPU cluster trace: " + SimCli.Usage) { TreatUnmatchedTokensAsErrors = false };
        command.SetAction(async (parse, ct) =>
        {
            var args = parse.UnmatchedTokens.ToList();

            // -o is also schedctl's global output option, which takes it first.
            if (parse.GetValue(Cli.Output) == "json")
            {
                args.AddRange(["-o", "json"]);
            }

            return await SimCli.RunAsync([.. args], parse.InvocationConfiguration.Output, ct);
        });
        return command;
    }
}
