using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Tests;

/// <summary>Every log fetch is answered: by the worker, by its deadline, or by the master stopping.</summary>
[TestFixture]
public sealed class LogRequestsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    [Test]
    public async Task The_workers_reply_answers_the_fetch_it_belongs_to()
    {
        var requests = new LogRequests();
        var reply = new TaskCompletionSource<GetLogsResponse>();
        var id = requests.Add("n1", 2, reply, Now.AddSeconds(10));

        requests.Complete(new LogsReply { RequestId = id, Found = true, Data = Google.Protobuf.ByteString.CopyFromUtf8("hello") });

        var logs = await reply.Task;
        Assert.That((logs.NodeId, logs.Attempt, logs.Data.ToStringUtf8()), Is.EqualTo(("n1", 2, "hello")));
    }

    [Test]
    public void A_fetch_past_its_deadline_fails_and_a_late_reply_is_dropped()
    {
        var requests = new LogRequests();
        var early = new TaskCompletionSource<GetLogsResponse>();
        var late = new TaskCompletionSource<GetLogsResponse>();
        var earlyId = requests.Add("n1", 1, early, Now.AddSeconds(5));
        requests.Add("n1", 1, late, Now.AddSeconds(20));

        requests.Expire(Now.AddSeconds(5));
        requests.Complete(new LogsReply { RequestId = earlyId, Found = true });

        Assert.That(early.Task.Exception?.InnerException, Is.TypeOf<RpcException>().With.Property("StatusCode").EqualTo(StatusCode.DeadlineExceeded));
        Assert.That(late.Task.IsCompleted, Is.False);
    }

    [Test]
    public void Stopping_fails_every_waiting_fetch_as_unavailable()
    {
        var requests = new LogRequests();
        var reply = new TaskCompletionSource<GetLogsResponse>();
        requests.Add("n1", 1, reply, Now.AddSeconds(5));

        requests.FailAll();

        Assert.That(reply.Task.Exception?.InnerException, Is.TypeOf<RpcException>().With.Property("StatusCode").EqualTo(StatusCode.Unavailable));
    }
}
