using Grpc.Core;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Link;

/// <summary>
/// The master's answer to a registration: the first command on the stream must be
/// <see cref="Registered"/>, from a term no older than the newest this worker has obeyed, and must
/// come within the timeout (a frozen master still completes TCP handshakes).
/// </summary>
internal static class Handshake
{
    private static readonly TimeSpan FirstTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MinTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// How long a registration may go unanswered: 10 s before the master's timings are known, then a
    /// quarter of its dead-after (at least 2 s). A frozen master still completes TCP handshakes, so
    /// a worker that met one during a failover must give up on it well inside its fencing budget.
    /// </summary>
    public static TimeSpan Timeout(bool timingsKnown, TimeSpan reconnectCap) =>
        timingsKnown ? TimeSpan.FromTicks(Math.Max(MinTimeout.Ticks, reconnectCap.Ticks)) : FirstTimeout;

    /// <summary>The accepted registration; throws when the master closed, answered otherwise, or is deposed.</summary>
    public static async Task<Registered> ReadAcceptedAsync(IAsyncStreamReader<MasterCommand> responses, EpochStore epochs, TimeSpan timeout, CancellationToken ct)
    {
        using var timeoutSource = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeoutSource.CancelAfter(timeout);
        if (!await responses.MoveNext(timeoutSource.Token))
        {
            throw new IOException("the master closed the stream before accepting the registration");
        }

        var first = responses.Current;
        if (first.BodyCase != MasterCommand.BodyOneofCase.Registered)
        {
            throw new InvalidOperationException($"the master answered the registration with {first.BodyCase}");
        }

        if (!epochs.Accept(first.Epoch))
        {
            // A deposed master: look for the current one.
            throw new InvalidOperationException($"master epoch {first.Epoch} is older than {epochs.Highest}, already obeyed");
        }

        return first.Registered;
    }
}
