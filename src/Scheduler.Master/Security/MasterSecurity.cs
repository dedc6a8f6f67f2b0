using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>Registers authentication, the role table's interceptor, limits, the audit log and the token store in one place.</summary>
internal static partial class MasterSecurity
{
    /// <summary>
    /// Opens the token table beside <paramref name="store"/> (same SQLite file, or same etcd prefix),
    /// stores the bootstrap token when auth is on, and registers everything the interceptor needs.
    /// Throws <see cref="StoreException"/> for a token store or bootstrap file that cannot be used.
    /// </summary>
    public static async Task AddAsync(WebApplicationBuilder builder, IStateStore store, MasterOptions master, CancellationToken cancellationToken)
    {
        var options = builder.Configuration.GetSection(SecurityOptions.Section).Get<SecurityOptions>() ?? new SecurityOptions();
        builder.Services.AddOptions<SecurityOptions>().Bind(builder.Configuration.GetSection(SecurityOptions.Section)).ValidateDataAnnotations().ValidateOnStart();

        ITokenStore tokens;
        try
        {
            tokens = store is EtcdStateStore
                ? new EtcdTokenStore(new EtcdStoreOptions { Endpoints = master.Etcd, Prefix = master.EtcdPrefix })
                : await SqliteTokenStore.OpenAsync(master.DataDir, cancellationToken);
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            throw new StoreException($"the token table in {Path.GetFullPath(master.DataDir)} cannot be opened ({ex.Message})", ex);
        }

        string? bootstrapId = null;
        if (options.Enabled && options.BootstrapTokenFile.Length > 0)
        {
            try
            {
                bootstrapId = await BootstrapToken.EnsureAsync(options.BootstrapTokenFile, tokens, TimeProvider.System, cancellationToken);
            }
            catch (IOException ex)
            {
                throw new StoreException($"--bootstrap-token-file {options.BootstrapTokenFile}: {ex.Message}", ex);
            }
        }

        var auditPath = options.AuditFile.Length > 0 ? options.AuditFile : Path.Combine(master.DataDir, "audit.jsonl");
        builder.Services.AddSingleton(_ => tokens);
        builder.Services.AddSingleton(sp => new AuditLog(auditPath, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILogger<AuditLog>>()));
        builder.Services.AddSingleton<Authenticator>();
        builder.Services.AddSingleton(sp => new RequestRateLimiter(options.RateLimitPerSecond, options.RateLimitBurst, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddSingleton(_ => new StreamCounter(options.MaxStreamsPerIdentity));
        builder.Services.AddSingleton<OpenStreams>();
        builder.Services.AddHostedService<RevocationWatcher>();
        builder.Services.AddSingleton<TokenAdministration>();
        builder.Services.AddSingleton<AuthInterceptor>();
        builder.Services.AddHostedService(sp => new Announcement(options, bootstrapId, auditPath, sp.GetRequiredService<ILogger<Announcement>>()));
    }

    /// <summary>Says at start whether calls are authenticated: an open API is a choice someone should see.</summary>
    internal sealed partial class Announcement(SecurityOptions options, string? bootstrapId, string auditPath, ILogger<Announcement> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (!options.Enabled)
            {
                LogAuthOff();
            }
            else
            {
                LogAuthOn(bootstrapId ?? "none", options.RateLimitPerSecond, options.RateLimitBurst, options.MaxStreamsPerIdentity, auditPath);
            }

            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(EventId = 4010, Level = LogLevel.Warning, Message = "auth is OFF: every caller may call every RPC (start the master with --auth to require tokens and roles)")]
        private partial void LogAuthOff();

        [LoggerMessage(EventId = 4011, Level = LogLevel.Information, Message = "auth is on: bootstrap token {BootstrapId}; rate limit {PerSecond}/s (burst {Burst}) per token; at most {Streams} streams per identity; audit log {AuditPath}")]
        private partial void LogAuthOn(string bootstrapId, double perSecond, int burst, int streams, string auditPath);
    }
}
