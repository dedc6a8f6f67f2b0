namespace Scheduler.Tests.Common;

/// <summary>
/// Where the built executables are. The build writes every project under artifacts/bin/NAME/CONFIG,
/// so the master and worker sit beside the running test assembly's own folder.
/// </summary>
public static class Artifacts
{
    private static readonly Lazy<string> BinRoot = new(() =>
    {
        // .../artifacts/bin/Scheduler.IntegrationTests/debug/ → .../artifacts/bin
        var own = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        return own.Parent?.Parent?.FullName ?? throw new InvalidOperationException($"Unexpected output folder {own}");
    });

    /// <summary>The configuration folder name of the running tests, e.g. "debug" or "release".</summary>
    public static string Configuration => new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Name;

    public static string MasterDll => Dll("Scheduler.Master", "Scheduler.Master.dll");

    public static string WorkerDll => Dll("Scheduler.Worker", "Scheduler.Worker.dll");

    public static string SchedctlDll => Dll("Scheduler.Cli", "schedctl.dll");

    /// <summary>The sample checkpointable agent of samples/CounterAgent.</summary>
    public static string CounterAgentDll => Dll("CounterAgent", "CounterAgent.dll");

    private static string Dll(string project, string file)
    {
        var path = Path.Combine(BinRoot.Value, project, Configuration, file);
        return File.Exists(path)
            ? path
            : throw new FileNotFoundException($"{file} is not built at {path}; build the solution first (./build.sh build)", path);
    }
}
