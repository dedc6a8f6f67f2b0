using System.Diagnostics;
using Grpc.Core;
using Scheduler.Client;

namespace Scheduler.Cli.Commands;

/// <summary>Waiting for a cluster condition in the benchmarks: polled, bounded, and patient with masters that are electing or restarting.</summary>
internal static class Poll
{
    /// <summary>Polls until <paramref name="probe"/> answers; a master that cannot answer yet is asked again; past <paramref name="limit"/> it throws, naming <paramref name="what"/>.</summary>
    public static async Task<T> UntilAsync<T>(Func<Task<T?>> probe, TimeSpan limit, TimeSpan pause, string what, CancellationToken ct)
        where T : class
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (Exception ex) when (ex is RpcException or MasterUnreachableException && !ct.IsCancellationRequested)
            {
            }

            if (waited.Elapsed > limit)
            {
                throw new TimeoutException($"waited {limit.TotalSeconds:0} s for {what}, which did not come");
            }

            await Task.Delay(pause, ct);
        }
    }

    public static Task<object> UntilAsync(Func<Task<bool>> condition, TimeSpan limit, string what, CancellationToken ct) =>
        UntilAsync(async () => await condition() ? new object() : null, limit, TimeSpan.FromMilliseconds(100), what, ct);
}
