using System.Globalization;

namespace Scheduler.Tests.Common.Fuzz;

/// <summary>
/// How big a fuzz run is. CI runs a smaller count than the full 10,000 requests per RPC so the suite
/// stays in budget on a busy two-core machine; <c>SCHEDULER_FUZZ_REQUESTS=10000</c> runs the full one,
/// and <c>SCHEDULER_FUZZ_SEED</c> replays another seed.
/// </summary>
public static class FuzzSettings
{
    public const int DefaultRequestsPerRpc = 2000;

    public static int RequestsPerRpc => Read("SCHEDULER_FUZZ_REQUESTS", DefaultRequestsPerRpc);

    public static int Seed => Read("SCHEDULER_FUZZ_SEED", 20261129);

    /// <summary>Calls in flight at once, all on one channel: per-request cost stays low.</summary>
    public static int Concurrency => Read("SCHEDULER_FUZZ_CONCURRENCY", 48);

    private static int Read(string name, int fallback) =>
        int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value > 0
            ? value
            : fallback;
}
