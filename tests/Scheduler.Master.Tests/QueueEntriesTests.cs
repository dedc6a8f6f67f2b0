using Scheduler.Contracts.V1;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;
using Scheduler.Core.Resources;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests;

[TestFixture]
public sealed class QueueEntriesTests
{
    [Test]
    public void A_job_whose_record_did_not_change_keeps_its_queued_entry_and_a_changed_one_is_rebuilt()
    {
        var entries = new QueueEntries();
        var builds = 0;
        QueuedJob[] Build(JobRecord job)
        {
            builds++;
            return [new QueuedJob(JobDemand.Of(job.Id, new ResourceRequest(100, 64, 0, 0)), job.Priority, job.CreatedAt, job.Sequence)];
        }

        var job = new JobRecord { Id = "j-000001", Sequence = 1, RequestId = "r", Spec = new JobSpec(), State = JobState.Pending, CreatedAt = DateTimeOffset.UnixEpoch, UpdatedAt = DateTimeOffset.UnixEpoch };
        var first = entries.For(job, Build);
        var again = entries.For(job, Build);
        var changed = entries.For(job with { PendingReason = "fits no node" }, Build);

        Assert.That(again, Is.SameAs(first));
        Assert.That(changed, Is.Not.SameAs(first));
        Assert.That(builds, Is.EqualTo(2));
        entries.Forget(job.Id);
        Assert.That(entries.Count, Is.Zero);
    }
}
