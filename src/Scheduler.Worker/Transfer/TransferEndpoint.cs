using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.Hosting;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// The address this worker serves transfers on, known only once Kestrel has bound (the default port
/// is 0, chosen by the OS); the master link waits for it so the registration can carry it.
/// </summary>
internal sealed class TransferEndpoint
{
    private readonly TaskCompletionSource<string> _bound = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public TransferEndpoint(IServer server, IHostApplicationLifetime lifetime)
    {
        lifetime.ApplicationStarted.Register(() => _bound.TrySetResult(TransferHosting.BoundAddress(server)));
    }

    public Task<string> WhenBoundAsync(CancellationToken ct) => _bound.Task.WaitAsync(ct);
}
