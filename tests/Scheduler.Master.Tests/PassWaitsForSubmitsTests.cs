using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Tests.Common;

namespace Scheduler.Master.Tests;

/// <summary>
/// Submits waiting in the inbox are stored and answered before a scheduling pass places the jobs stored
/// just before them, for at most <see cref="SchedulerLoop.MaxPassDelay"/>: a pass over a burst must not hold
/// the next submits behind it, and a flood of submits must not hold every pass back.
/// </summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class PassWaitsForSubmitsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>More than one batch of the loop takes, so some wait in the inbox after the first.</summary>
    private const int Burst = EventInbox.MaxBatch + 88;

    [Test]
    public async Task Submits_waiting_in_the_inbox_are_stored_before_a_pass_places_the_earlier_ones()
    {
        await using var harness = await LoopHarness.StartAsync();
        await harness.ConnectAsync("n1", gpus: 4);
        var (held, burst, before) = await HoldThenBurstAsync(harness);

        var jobs = await Task.WhenAll(burst).WaitAsync(Wait);
        await held.WaitAsync(Wait);
        await harness.SettleAsync();

        var writes = harness.Store.Writes.Skip(before).ToList();
        var lastSubmitWrite = writes.FindLastIndex(w => w.Any(j => j.RequestId.StartsWith('b') && j.State == JobState.Pending));
        var firstPlacement = writes.FindIndex(w => w.Any(j => j.State == JobState.Assigned));
        Assert.That(writes.Count(w => w.Any(j => j.RequestId.StartsWith('b') && j.State == JobState.Pending)), Is.EqualTo(2), "two batches of submits");
        Assert.That(firstPlacement, Is.GreaterThan(lastSubmitWrite), "no pass ran while submits waited in the inbox");
        Assert.That(jobs.Select(j => j.Id).Distinct().Count(), Is.EqualTo(Burst));
        Assert.That(harness.Loop.View.Jobs.Values.Count(j => j.State == JobState.Assigned), Is.EqualTo(4), "the pass after them placed what fits");
    }

    [Test]
    public async Task A_pass_is_put_off_no_longer_than_the_most_it_waits_for_submits()
    {
        await using var harness = await LoopHarness.StartAsync();
        await harness.ConnectAsync("n1", gpus: 4);
        var (held, burst, before) = await HoldThenBurstAsync(harness, advanceWhileHeld: SchedulerLoop.MaxPassDelay);

        await Task.WhenAll(burst).WaitAsync(Wait);
        await held.WaitAsync(Wait);
        await harness.SettleAsync();

        var writes = harness.Store.Writes.Skip(before).ToList();
        var firstBurstWrite = writes.FindIndex(w => w.Any(j => j.RequestId.StartsWith('b')));
        var firstPlacement = writes.FindIndex(w => w.Any(j => j.State == JobState.Assigned));
        Assert.That(firstPlacement, Is.GreaterThanOrEqualTo(0).And.LessThan(firstBurstWrite), "the held job was placed before the waiting submits were stored: its pass was due");
    }

    /// <summary>
    /// Holds the loop on one submit's write, posts <see cref="Burst"/> submits behind it (moving the clock by
    /// <paramref name="advanceWhileHeld"/> meanwhile), then lets the write finish.
    /// </summary>
    private static async Task<(Task<Job> Held, Task<Job>[] Burst, int WritesBefore)> HoldThenBurstAsync(LoopHarness harness, TimeSpan advanceWhileHeld = default)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        harness.Store.HoldWrites(release.Task);
        var before = harness.Store.Writes.Count;
        var held = harness.SubmitAsync("held", gpus: 1);
        await harness.Store.Holding.Task.WaitAsync(Wait);

        var burst = Enumerable.Range(0, Burst).Select(i => harness.SubmitAsync($"b{i}", gpus: 1)).ToArray();
        await Eventually.TrueAsync(() => Task.FromResult(harness.Loop.InboxDepth >= Burst), "the burst to wait in the inbox");
        harness.Time.Advance(advanceWhileHeld);
        harness.Store.Hold = null;
        release.SetResult();
        return (held, burst, before);
    }
}
