using Scheduler.Simulation;

// Until `schedctl sim` is wired, this runs the same command: `dotnet run -c Release -- --nodes ... --tasks ...`.
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    cts.Cancel();
};

return await SimCli.RunAsync(args, Console.Out, cts.Token).ConfigureAwait(false);
