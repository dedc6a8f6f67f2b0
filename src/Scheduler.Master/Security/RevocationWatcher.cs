using Microsoft.Extensions.Options;
using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>
/// Ends the open streams of tokens revoked through another master. Tokens live in the shared store
/// (SQLite or etcd), so every master sees a revocation there; this loop reads the tokens that hold
/// streams open here (one key read each, only while some are open) every
/// <see cref="SecurityOptions.RevocationCheckMs"/>. The master that handled the revocation ends its
/// own streams at once, without waiting for this loop.
/// </summary>
internal sealed partial class RevocationWatcher : BackgroundService
{
    private readonly ITokenStore _tokens;
    private readonly OpenStreams _streams;
    private readonly TimeProvider _time;
    private readonly SecurityOptions _options;
    private readonly ILogger<RevocationWatcher> _logger;

    public RevocationWatcher(ITokenStore tokens, OpenStreams streams, TimeProvider time, IOptions<SecurityOptions> options, ILogger<RevocationWatcher> logger)
    {
        _tokens = tokens;
        _streams = streams;
        _time = time;
        _options = options.Value;
        _logger = logger;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!_options.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(_options.RevocationCheckMs), _time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await CheckAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A store that cannot be read now is read again at the next tick.
                LogCheckFailed(ex.Message);
            }
        }
    }

    /// <summary>Ends the streams of every token that is revoked or gone from the store.</summary>
    public async Task CheckAsync(CancellationToken cancellationToken)
    {
        foreach (var id in _streams.TokenIds)
        {
            var token = await _tokens.FindAsync(id, cancellationToken);
            if (token is null || token.RevokedAt is not null)
            {
                var ended = _streams.Revoke(id);
                if (ended > 0)
                {
                    LogEnded(id, ended);
                }
            }
        }
    }

    [LoggerMessage(4020, LogLevel.Warning, "Token {TokenId} was revoked: ended its {Count} open streams on this master")]
    private partial void LogEnded(string tokenId, int count);

    [LoggerMessage(4021, LogLevel.Warning, "Could not check open streams' tokens for revocation: {Reason}")]
    private partial void LogCheckFailed(string reason);
}
