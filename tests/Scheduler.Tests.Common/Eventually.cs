namespace Scheduler.Tests.Common;

/// <summary>Waits for a condition with a deadline instead of sleeping and hoping.</summary>
public static class Eventually
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Polls <paramref name="probe"/> until it returns a non-null value or the deadline passes.</summary>
    public static async Task<T> ReturnsAsync<T>(Func<Task<T?>> probe, string what, TimeSpan? timeout = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        Exception? last = null;
        var delay = TimeSpan.FromMilliseconds(20);
        while (true)
        {
            try
            {
                if (await probe() is { } value)
                {
                    return value;
                }
            }
            catch (Exception ex) when (ex is not AssertionException)
            {
                last = ex;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"Timed out after {(timeout ?? DefaultTimeout).TotalSeconds:F0}s waiting for {what}" +
                    (last is null ? "" : $" (last error: {last.Message})"));
            }

            await Task.Delay(delay);
            delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 250));
        }
    }

    public static async Task TrueAsync(Func<Task<bool>> probe, string what, TimeSpan? timeout = null) =>
        await ReturnsAsync<object>(async () => await probe() ? new object() : null, what, timeout);

    public static Task TrueAsync(Func<bool> probe, string what, TimeSpan? timeout = null) =>
        TrueAsync(() => Task.FromResult(probe()), what, timeout);

    /// <summary>As above; on a timeout the message ends with what <paramref name="diagnose"/> says (process lists, log tails), so a CI failure can be understood from its output.</summary>
    public static async Task TrueAsync(Func<bool> probe, string what, TimeSpan timeout, Func<string> diagnose)
    {
        try
        {
            await TrueAsync(probe, what, timeout);
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException($"{ex.Message}\n{diagnose()}", ex);
        }
    }
}
