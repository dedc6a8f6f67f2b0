namespace Scheduler.Master;

/// <summary>
/// Log levels the master starts with, below the environment and the command line (which override them):
/// ASP.NET Core and gRPC log each request at information level, which drowned the scheduler's own lines
/// (84% of a master log was per-request noise). Their warnings and errors still show, except the
/// health checks' errors: a standby reports NOT_SERVING on every probe.
/// </summary>
internal static class LogDefaults
{
    public static IEnumerable<KeyValuePair<string, string?>> Configuration { get; } =
    [
        new("Logging:LogLevel:Microsoft.AspNetCore", "Warning"),
        new("Logging:LogLevel:Grpc", "Warning"),

        // A standby is unhealthy by design (it must not take traffic): not an error per probe.
        new("Logging:LogLevel:Microsoft.Extensions.Diagnostics.HealthChecks", "Critical"),
    ];
}
