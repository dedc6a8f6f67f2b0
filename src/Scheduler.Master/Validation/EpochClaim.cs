using Grpc.Core;

namespace Scheduler.Master.Validation;

/// <summary>
/// How far a registering worker may move the cluster's epoch. A worker that obeyed a newer term than
/// the store remembers makes the leader raise its epoch past it (the store lost history: an old
/// backup, a new store); but the claim is only the worker's word, and one node with a valid
/// certificate could otherwise push the epoch to the top of its range, past which no worker could
/// register again. Terms add one each, so a store that lost history is behind by a few terms, not
/// by millions: a claim more than <c>--max-epoch-advance</c> above the leader's epoch is refused and
/// nothing moves.
/// </summary>
internal static class EpochClaim
{
    /// <summary>The default bound: a million terms, far more than any restore loses.</summary>
    public const long DefaultMaxAdvance = 1_000_000;

    /// <summary>Throws FAILED_PRECONDITION naming <c>register.last_epoch</c> when the claim is past the bound.</summary>
    public static void Check(long claimed, long epoch, long maxAdvance)
    {
        if (claimed > epoch && claimed - epoch > maxAdvance)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                $"register.last_epoch: {claimed} is more than {maxAdvance} above this cluster's epoch {epoch}; the master will not jump that far on one worker's word. "
                + "If the store really lost that much history, start the master with a larger --max-epoch-advance; otherwise delete the worker's epoch file (<data-dir>/epoch) and restart it"));
        }
    }
}
