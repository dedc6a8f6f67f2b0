using Scheduler.Worker.Link;

namespace Scheduler.Worker.Tests;

/// <summary>The per-process limit on registrations in flight, on its own.</summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class RegistrationGateTests
{
    [Test]
    public async Task Places_beyond_the_limit_wait_until_one_is_given_back(CancellationToken ct)
    {
        using var gate = new RegistrationGate(2);
        using var first = await gate.EnterAsync(ct);
        using var second = await gate.EnterAsync(ct);

        var third = gate.EnterAsync(ct).AsTask();
        Assert.That(third.IsCompleted, Is.False, "a third waits while two are in flight");

        first.Dispose();
        using var entered = await third;

        Assert.That(gate.InFlight, Is.EqualTo(2));
    }

    [Test]
    public async Task A_place_given_back_twice_frees_one_place_only(CancellationToken ct)
    {
        using var gate = new RegistrationGate(1);
        var place = await gate.EnterAsync(ct);

        place.Dispose();
        place.Dispose();

        using var next = await gate.EnterAsync(ct);
        Assert.That(gate.InFlight, Is.EqualTo(1));
        using var giveUp = new CancellationTokenSource();
        var another = gate.EnterAsync(giveUp.Token).AsTask();
        Assert.That(another.IsCompleted, Is.False, "still one place, not two");
        await giveUp.CancelAsync();
        Assert.That(async () => await another, Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task A_waiter_that_gives_up_takes_no_place(CancellationToken ct)
    {
        using var gate = new RegistrationGate(1);
        var held = await gate.EnterAsync(ct);
        using var giveUp = new CancellationTokenSource();
        var waiting = gate.EnterAsync(giveUp.Token).AsTask();

        await giveUp.CancelAsync();
        Assert.That(async () => await waiting, Throws.InstanceOf<OperationCanceledException>());
        held.Dispose();

        Assert.That(gate.InFlight, Is.Zero);
        using var again = await gate.EnterAsync(ct);
        Assert.That(gate.InFlight, Is.EqualTo(1));
    }

    [Test]
    public void A_limit_below_one_is_one()
    {
        using var gate = new RegistrationGate(0);

        Assert.That(gate.Limit, Is.EqualTo(1));
    }
}
