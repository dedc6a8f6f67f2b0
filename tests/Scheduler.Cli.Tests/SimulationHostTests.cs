using Scheduler.Cli.Local;
using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>The process hosting simulated nodes gets its GC settings; the variables reach the child process.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class SimulationHostTests
{
    [Test]
    public async Task Variables_given_for_a_local_process_reach_it()
    {
        var log = Path.Combine(Path.GetTempPath(), $"scheduler-cli-env-{Guid.NewGuid():N}.log");
        try
        {
            await using (var process = LocalProcess.Start("env", "/bin/sh", ["-c", "echo \"gc=$DOTNET_gcServer gen0=$DOTNET_GCgen0size\""], log, LocalCluster.SimulationHostGc))
            {
                await Eventually.TrueAsync(() => process.HasExited, "the shell to exit", TimeSpan.FromSeconds(30));
            }

            Assert.That(await File.ReadAllTextAsync(log), Does.Contain("gc=1 gen0=0x8000000"));
        }
        finally
        {
            File.Delete(log);
        }
    }
}
