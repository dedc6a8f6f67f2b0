using Grpc.Net.Client;
using Microsoft.Extensions.Logging.Abstractions;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Gpu;
using Scheduler.Worker.Link;
using Scheduler.Worker.Transfer;

namespace Scheduler.Worker.Tests;

/// <summary>A worker tells the master where peers reach its transfer service.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class TransferRegistrationTests
{
    [Test]
    public async Task Registration_carries_the_bound_transfer_address(CancellationToken ct)
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-transfer-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        using var launcher = new AgentLauncher();
        await using var master = await FakeMaster.StartAsync(ct);
        await using var transfer = await TransferServer.StartAsync(Path.Combine(dir, "data"), TimeProvider.System, ct);
        try
        {
            Assert.That(transfer.Address, Does.Match(@"^127\.0\.0\.1:[1-9][0-9]*$"));
            var options = new WorkerOptions { Master = master.Address.OriginalString, NodeId = "node-1", DataDir = dir, StopGraceMs = 0 };
            var identity = new WorkerIdentity("node-1", dir, 1000, 1024, new Dictionary<string, string>(), transfer.Address);
            var agents = new AgentSupervisor(dir, "node-1", launcher, TimeProvider.System, NullLogger.Instance);
            var link = new MasterLink(identity, new NoGpuProbe(), agents, options, TimeProvider.System, NullLogger.Instance);
            using var stop = new CancellationTokenSource();
            var run = link.RunAsync(stop.Token);

            var registration = await Eventually.ReturnsAsync(() => Task.FromResult(master.Registrations.FirstOrDefault()), "node-1 to register", TimeSpan.FromSeconds(20));
            await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(15), ct);

            Assert.That(registration.TransferAddress, Is.EqualTo(transfer.Address));

            // And the address is one a peer can dial.
            using var channel = GrpcChannel.ForAddress($"http://{registration.TransferAddress}");
            var error = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () =>
                await new CheckpointTransfer.CheckpointTransferClient(channel).PrepareAsync(new PrepareRequest { MigrationId = "m", Token = "t" }, cancellationToken: ct));
            Assert.That(error!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.PermissionDenied));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
