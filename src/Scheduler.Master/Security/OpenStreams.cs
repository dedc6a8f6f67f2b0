using System.Collections.Concurrent;

namespace Scheduler.Master.Security;

/// <summary>
/// The streams this master holds open for each token (watches, log follows, snapshots, a worker's
/// stream opened with a token), so that revoking the token ends them at once rather than at their
/// next call, which a stream never makes.
/// </summary>
internal sealed class OpenStreams
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<Registration, byte>> _byToken = new(StringComparer.Ordinal);

    /// <summary>The ids of the tokens that hold at least one stream open here.</summary>
    public IReadOnlyList<string> TokenIds => _byToken.Where(p => !p.Value.IsEmpty).Select(p => p.Key).ToArray();

    /// <summary>Registers one stream of <paramref name="tokenId"/>; its token is cancelled when the token is revoked.</summary>
    public Registration Open(string tokenId)
    {
        var registration = new Registration(this, tokenId);
        _byToken.GetOrAdd(tokenId, _ => new()).TryAdd(registration, 0);
        return registration;
    }

    /// <summary>Ends every open stream of <paramref name="tokenId"/>; returns how many there were.</summary>
    public int Revoke(string tokenId)
    {
        if (!_byToken.TryGetValue(tokenId, out var streams))
        {
            return 0;
        }

        var count = 0;
        foreach (var registration in streams.Keys)
        {
            registration.Cancel();
            count++;
        }

        return count;
    }

    private void Close(Registration registration)
    {
        if (_byToken.TryGetValue(registration.TokenId, out var streams))
        {
            streams.TryRemove(registration, out _);
        }
    }

    /// <summary>One open stream; disposing it forgets the stream.</summary>
    public sealed class Registration : IDisposable
    {
        private readonly OpenStreams _owner;
        private readonly CancellationTokenSource _revoked = new();

        internal Registration(OpenStreams owner, string tokenId)
        {
            _owner = owner;
            TokenId = tokenId;
        }

        public string TokenId { get; }

        /// <summary>Cancelled when the stream's token is revoked.</summary>
        public CancellationToken Revoked => _revoked.Token;

        internal void Cancel()
        {
            try
            {
                _revoked.Cancel();
            }
            catch (ObjectDisposedException)
            {
                // The stream ended meanwhile.
            }
        }

        public void Dispose()
        {
            _owner.Close(this);
            _revoked.Dispose();
        }
    }
}
