using BenchmarkDotNet.Running;
using Scheduler.Core.Benchmarks;

if (args.Length > 0 && args[0] == "--bdn")
{
    Environment.SetEnvironmentVariable(CoreScenario.DataDirVariable, Path.GetFullPath(CoreScenario.DataDir));
    BenchmarkSwitcher.FromAssembly(typeof(QuickRun).Assembly).Run(args[1..]);
    return 0;
}

if (args.Any(a => a is "-h" or "--help"))
{
    Console.WriteLine(QuickOptions.Usage);
    return 0;
}

if (!QuickOptions.TryParse(args, out var options, out var error))
{
    Console.Error.WriteLine($"error: {error}\n{QuickOptions.Usage}");
    return 2;
}

return QuickRun.Run(options);
