using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// A stand-alone transfer target on its own Kestrel server: for tests and the benchmark, which need
/// a receiver without a master link or agents. The worker host serves the same service itself.
/// </summary>
internal sealed class TransferServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TransferServer(WebApplication app, string address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>host:port.</summary>
    public string Address { get; }

    public Uri Url => new($"http://{Address}");

    public TransferAuthorizations Authorizations => _app.Services.GetRequiredService<TransferAuthorizations>();

    public IncomingMigrations Migrations => _app.Services.GetRequiredService<IncomingMigrations>();

    public static async Task<TransferServer> StartAsync(string dataDir, TimeProvider time, CancellationToken ct, TransferLimits? limits = null, IPEndPoint? listen = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => TransferHosting.Listen(kestrel, listen ?? new IPEndPoint(IPAddress.Loopback, 0)));
        builder.Services.AddSingleton(time);
        builder.Services.AddCheckpointTransfer(dataDir, limits ?? new TransferLimits());
        var app = builder.Build();
        app.MapCheckpointTransfer();
        await app.StartAsync(ct);
        return new TransferServer(app, TransferHosting.BoundAddress(app.Services.GetRequiredService<IServer>()));
    }

    public async ValueTask DisposeAsync()
    {
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        await _app.StopAsync(stop.Token);
        await _app.DisposeAsync();
    }
}
