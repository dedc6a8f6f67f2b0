using System.Reflection;
using System.Runtime.CompilerServices;
using Grpc.Core;
using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Tests;

[TestFixture]
public sealed class EventInboxTests
{
    /// <summary>
    /// Every request (an event with a Reply) is answered when its handling fails: a kind forgotten in
    /// <see cref="EventInbox.Fail"/> would leave its caller waiting until its deadline.
    /// </summary>
    [Test]
    public void Every_request_kind_is_answered_when_it_fails()
    {
        var requests = typeof(IMasterEvent).Assembly.GetTypes()
            .Where(t => typeof(IMasterEvent).IsAssignableFrom(t) && !t.IsInterface && t.GetProperty("Reply") is not null)
            .ToList();
        Assert.That(requests, Has.Count.GreaterThanOrEqualTo(6));

        foreach (var type in requests)
        {
            var e = (IMasterEvent)RuntimeHelpers.GetUninitializedObject(type);
            var replyProperty = type.GetProperty("Reply")!;
            var reply = Activator.CreateInstance(replyProperty.PropertyType)!;
            type.GetField("<Reply>k__BackingField", BindingFlags.Instance | BindingFlags.NonPublic)!.SetValue(e, reply);

            EventInbox.Fail(e, new RpcException(new Status(StatusCode.Unavailable, "test")));

            var task = (Task)replyProperty.PropertyType.GetProperty("Task")!.GetValue(reply)!;
            Assert.That(task.IsFaulted, Is.True, $"{type.Name} is answered");
        }
    }

    [Test]
    public void A_batch_counts_each_of_its_jobs_against_the_bound_of_submits()
    {
        var inbox = new EventInbox(maxSubmits: 5);
        Assert.That(inbox.Offer(Batch(3)), Is.EqualTo(PostOutcome.Posted));
        Assert.That(inbox.Submits, Is.EqualTo(3));

        Assert.That(inbox.Offer(Batch(3)), Is.EqualTo(PostOutcome.Full), "3 + 3 jobs are more than 5");
        Assert.That(inbox.Offer(Batch(2)), Is.EqualTo(PostOutcome.Posted));
        Assert.That(inbox.Submits, Is.EqualTo(5));

        _ = inbox.TakeBatch().ToList();
        Assert.That(inbox.Submits, Is.Zero);
        Assert.That(inbox.Offer(Batch(8)), Is.EqualTo(PostOutcome.Posted), "a batch larger than the bound is taken into an empty inbox");
        Assert.That(inbox.Offer(Batch(1)), Is.EqualTo(PostOutcome.Full));
    }

    [Test]
    public void Events_after_a_backlog_of_submits_are_taken_in_the_first_batch_and_the_submits_keep_their_order()
    {
        var inbox = new EventInbox();
        var submits = Enumerable.Range(0, EventInbox.MaxBatch + 10).Select(i => Submit($"s{i}")).ToList();
        foreach (var submit in submits)
        {
            inbox.Post(submit);
        }

        var heartbeat = Tick.Instance;
        inbox.Post(heartbeat);

        var first = inbox.TakeBatch().ToList();
        Assert.That(first.OfType<SubmitJob>().Count(), Is.EqualTo(EventInbox.MaxBatch), "one batch's worth of submits");
        Assert.That(first, Does.Contain(heartbeat), "the event behind the backlog is not held back by it");
        Assert.That(inbox.Submits, Is.EqualTo(10), "the submits held back still count against the bound");
        Assert.That(inbox.Depth, Is.EqualTo(10));

        inbox.Post(Submit("later"));
        var second = inbox.TakeBatch().ToList();
        Assert.That(first.OfType<SubmitJob>().Concat(second.OfType<SubmitJob>()).Select(s => s.Request.RequestId),
            Is.EqualTo(submits.Select(s => s.Request.RequestId).Append("later")), "every submit once, in the order posted");
        Assert.That(inbox.Depth, Is.Zero);
    }

    [Test]
    public void Closing_answers_the_submits_held_back()
    {
        var inbox = new EventInbox();
        var submits = Enumerable.Range(0, EventInbox.MaxBatch + 3).Select(i => Submit($"s{i}")).ToList();
        foreach (var submit in submits)
        {
            inbox.Post(submit);
        }

        _ = inbox.TakeBatch().ToList();
        inbox.Close(new RpcException(new Status(StatusCode.Unavailable, "test")));

        Assert.That(submits.Skip(EventInbox.MaxBatch).Select(s => s.Reply.Task.IsFaulted), Is.All.True);
        Assert.That((inbox.Depth, inbox.Submits), Is.EqualTo((0, 0)));
    }

    private static SubmitJob Submit(string requestId) =>
        new(new Scheduler.Contracts.V1.SubmitJobRequest { RequestId = requestId }, new TaskCompletionSource<Scheduler.Contracts.V1.SubmitJobResponse>());

    private static SubmitJobBatch Batch(int jobs)
    {
        var request = new Scheduler.Contracts.V1.SubmitJobBatchRequest();
        for (var i = 0; i < jobs; i++)
        {
            request.Items.Add(new Scheduler.Contracts.V1.SubmitJobRequest { RequestId = $"r{i}" });
        }

        return new SubmitJobBatch(request, new TaskCompletionSource<Scheduler.Contracts.V1.SubmitJobBatchResponse>());
    }

    [Test]
    public void Depth_counts_the_events_posted_and_not_yet_taken()
    {
        var inbox = new EventInbox();
        inbox.Post(Tick.Instance);
        inbox.Post(Tick.Instance);
        inbox.Post(Tick.Instance);
        Assert.That(inbox.Depth, Is.EqualTo(3));

        var taken = inbox.TakeBatch().Take(2).ToList();

        Assert.That(taken, Has.Count.EqualTo(2));
        Assert.That(inbox.Depth, Is.EqualTo(1));
        inbox.Close(new RpcException(new Status(StatusCode.Unavailable, "test")));
        Assert.That(inbox.Depth, Is.Zero);
        Assert.That(inbox.Post(Tick.Instance), Is.False);
        Assert.That(inbox.Depth, Is.Zero, "a refused post is not counted");
    }

    [Test]
    public void A_batch_holds_only_the_events_there_when_it_was_taken()
    {
        var inbox = new EventInbox();
        inbox.Post(Tick.Instance);
        inbox.Post(Tick.Instance);

        var handled = 0;
        foreach (var e in inbox.TakeBatch())
        {
            handled++;
            inbox.Post(Tick.Instance);
        }

        Assert.That(handled, Is.EqualTo(2), "what was posted during the batch waits for the next one");
        Assert.That(inbox.Depth, Is.EqualTo(2));
    }
}
