using Scheduler.Contracts.V1;
using Scheduler.Core.Resources;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests;

/// <summary>
/// The job state machine for a gang of two replicas (n1, n2) as a table: every phase × every
/// replica event → the next phase, or a refusal; then what a broken gang costs and holds.
/// </summary>
[TestFixture]
public sealed class GangTransitionsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    private static readonly string[] Events =
    [
        "place gang", "rank 0 started", "all started", "rank 0 exit 0", "all exit 0", "rank 0 exit 3", "rank 0 lost",
        "rank 0 host stop", "rank 0 failed to start", "move", "cancel", "whole gang lost",
    ];

    // One row per phase a gang can be in (never suspended: a gang is not checkpointable); "-" is a refusal.
    private static readonly Dictionary<JobPhase, string[]> Table = new()
    {
        [JobPhase.Pending] = ["Assigned", "-", "-", "-", "-", "-", "-", "-", "-", "-", "Cancelled", "-"],
        [JobPhase.Assigned] = ["-", "Assigned", "Running", "Assigned", "Succeeded", "Moving", "Moving", "Moving", "Ending", "Moving", "Ending", "Pending"],
        [JobPhase.Running] = ["-", "-", "-", "Running", "Succeeded", "Moving", "Moving", "Moving", "Ending", "Moving", "Ending", "Pending"],
        [JobPhase.Moving] = ["-", "-", "-", "Moving", "Pending", "Moving", "Moving", "Moving", "Moving", "-", "Ending", "Pending"],
        [JobPhase.Ending] = ["-", "-", "-", "Ending", "Cancelled", "Ending", "Ending", "Ending", "Ending", "-", "-", "Cancelled"],
        [JobPhase.Succeeded] = ["-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"],
        [JobPhase.Failed] = ["-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"],
        [JobPhase.Cancelled] = ["-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"],
    };

    private static IEnumerable<TestCaseData> Cells() =>
        Table.SelectMany(row => Events.Select((e, i) => new TestCaseData(row.Key.ToString(), e, row.Value[i]).SetArgDisplayNames($"gang {row.Key} + {e} -> {row.Value[i]}")));

    private static IEnumerable<TestCaseData> Changes() =>
        Cells().Where(c => (string)c.Arguments[2]! != "-");

    [Test]
    public void The_table_covers_every_phase_but_suspended() =>
        Assert.That(Table.Keys.Append(JobPhase.Suspended), Is.EquivalentTo(Enum.GetValues<JobPhase>()));

    [TestCaseSource(nameof(Cells))]
    public void Each_replica_event_in_each_phase_gives_the_phase_in_the_table(string phaseName, string e, string expected)
    {
        var phase = Enum.Parse<JobPhase>(phaseName);
        var gang = In(phase);
        Assert.That(JobTransitions.PhaseOf(gang), Is.EqualTo(phase), "the sample record is in the phase it stands for");

        var next = Apply(gang, e);

        Assert.That(next is null ? "-" : JobTransitions.PhaseOf(next).ToString(), Is.EqualTo(expected));
    }

    [TestCaseSource(nameof(Changes))]
    public void A_gang_holds_capacity_exactly_while_one_of_its_replicas_may_run(string phaseName, string e, string expected)
    {
        var next = Apply(In(Enum.Parse<JobPhase>(phaseName)), e);
        Assert.That(next, Is.Not.Null, expected);

        Assert.That(next!.HoldsAllocation, Is.EqualTo(next.Replicas.Any(r => r.Holds)), "the job holds while a replica does");
        var holds = JobTransitions.PhaseOf(next) is JobPhase.Assigned or JobPhase.Running or JobPhase.Moving or JobPhase.Ending;
        Assert.That(next.HoldsAllocation, Is.EqualTo(holds));
        if (JobTransitions.PhaseOf(next) == JobPhase.Pending)
        {
            Assert.That(next.Replicas.Where(r => r.Holds), Is.Empty, "a waiting gang holds no part of its capacity");
        }
    }

    [Test]
    public void Placing_a_gang_records_every_replica_in_one_record_as_the_next_attempt()
    {
        var placed = JobTransitions.PlaceGang(In(JobPhase.Pending), Fresh(), Now)!;

        Assert.That((placed.State, placed.Attempt, placed.NodeId, placed.HoldsAllocation), Is.EqualTo((JobState.Assigned, 3, "n1", true)));
        Assert.That(placed.Replicas.Select(r => (r.Rank, r.NodeId, r.Phase)), Is.EqualTo(new[] { (0, "n1", ReplicaPhase.Assigned), (1, "n2", ReplicaPhase.Assigned) }));
        Assert.That(JobTransitions.PlaceGang(In(JobPhase.Pending), [Fresh()[0]], Now), Is.Null, "a part of the gang is never placed");
    }

    [Test]
    public void A_broken_gang_uses_one_retry_and_is_requeued_only_when_every_replica_has_stopped()
    {
        var broken = JobTransitions.ReplicaExited(In(JobPhase.Running), 0, 3, Now)!;
        Assert.That((JobTransitions.PhaseOf(broken), broken.Requeues), Is.EqualTo((JobPhase.Moving, 1)));
        Assert.That(broken.Replicas[1].Holds, Is.True, "the other replica holds its capacity until it has stopped");

        var requeued = JobTransitions.ReplicaExited(broken, 1, 143, Now)!;

        Assert.That((requeued.State, requeued.Requeues, requeued.HoldsAllocation), Is.EqualTo((JobState.Pending, 1, false)), "one retry for the whole gang");
        Assert.That(JobTransitions.PlaceGang(requeued, Fresh(), Now)!.Attempt, Is.EqualTo(3));
    }

    [Test]
    public void A_gang_past_max_retries_fails_once_its_other_replicas_have_stopped()
    {
        var last = In(JobPhase.Running) with { Requeues = 3 };

        var failing = JobTransitions.ReplicaLost(last, 1, "node gone", countsAsRetry: true, Now)!;
        var failed = JobTransitions.ReplicaExited(failing, 0, 143, Now)!;

        Assert.That((failing.State, JobTransitions.PhaseOf(failing)), Is.EqualTo((JobState.Failed, JobPhase.Ending)));
        Assert.That(failing.Message, Does.Contain("max_retries is 3"));
        Assert.That((failed.State, failed.HoldsAllocation), Is.EqualTo((JobState.Failed, false)));
    }

    [Test]
    public void A_replica_stopped_by_its_host_requeues_the_gang_without_using_a_retry()
    {
        var moving = JobTransitions.ReplicaLost(In(JobPhase.Running), 0, "n1 shut down", countsAsRetry: false, Now)!;
        var requeued = JobTransitions.ReplicaExited(moving, 1, 143, Now)!;

        Assert.That((requeued.State, requeued.Requeues), Is.EqualTo((JobState.Pending, 0)));
    }

    [Test]
    public void Per_agent_events_of_a_single_job_refuse_a_gang()
    {
        var running = In(JobPhase.Running);

        Assert.That(JobTransitions.Exited(running, 0, Now), Is.Null);
        Assert.That(JobTransitions.FailedToStart(running, "x", Now), Is.Null);
        Assert.That(JobTransitions.Started(In(JobPhase.Assigned), Now), Is.Null);
        Assert.That(JobTransitions.Place(In(JobPhase.Pending), "n1", [], [], Now), Is.Null);
        Assert.That(JobTransitions.LateExit(In(JobPhase.Pending), 2, 0, "n1", Now), Is.Null);
    }

    private static ReplicaRecord[] Fresh() =>
    [
        new(0, "n1", [new GpuShare(0, 1000)], ["GPU-n1-0"], "h1:29500"),
        new(1, "n2", [new GpuShare(0, 1000)], ["GPU-n2-0"], "h2:29500"),
    ];

    private static JobRecord? Apply(JobRecord job, string e) => e switch
    {
        "place gang" => JobTransitions.PlaceGang(job, Fresh(), Now),
        "rank 0 started" => JobTransitions.ReplicaStarted(job, 0, Now),
        "all started" => JobTransitions.ReplicaStarted(job, 0, Now) is { } first ? JobTransitions.ReplicaStarted(first, 1, Now) : null,
        "rank 0 exit 0" => JobTransitions.ReplicaExited(job, 0, 0, Now),
        "all exit 0" => JobTransitions.ReplicaExited(job, 0, 0, Now) is { } first ? JobTransitions.ReplicaExited(first, 1, 0, Now) : null,
        "rank 0 exit 3" => JobTransitions.ReplicaExited(job, 0, 3, Now),
        "rank 0 lost" => JobTransitions.ReplicaLost(job, 0, "node gone", countsAsRetry: true, Now),
        "rank 0 host stop" => JobTransitions.ReplicaLost(job, 0, "n1 shut down", countsAsRetry: false, Now),
        "rank 0 failed to start" => JobTransitions.ReplicaFailedToStart(job, 0, "no such command", Now),
        "move" => JobTransitions.Move(job, "draining", Now),
        "cancel" => JobTransitions.Cancel(job, Now),
        "whole gang lost" => JobTransitions.Lost(job, "its node's record was lost", Now),
        _ => throw new ArgumentException(e),
    };

    /// <summary>A gang of two at attempt 2 on n1 and n2 in <paramref name="phase"/>.</summary>
    private static JobRecord In(JobPhase phase)
    {
        var running = Fresh().Select(r => r with { Phase = ReplicaPhase.Running }).ToArray();
        var gang = new JobRecord
        {
            Id = "j-000001",
            Sequence = 1,
            RequestId = "r1",
            Spec = new JobSpec { Command = "/bin/true", MaxRetries = 3, Replicas = 2 },
            State = JobState.Running,
            Attempt = 2,
            NodeId = "n1",
            AttemptNodes = ["n0", "n1"],
            Replicas = running,
            HoldsAllocation = true,
            CreatedAt = Now,
            UpdatedAt = Now,
        };
        var gone = Fresh().Select(r => r with { Phase = ReplicaPhase.Exited, ExitCode = 0 }).ToArray();
        return phase switch
        {
            JobPhase.Pending => gang with { State = JobState.Pending, HoldsAllocation = false, Replicas = Fresh().Select(r => r with { Phase = ReplicaPhase.Lost }).ToArray() },
            JobPhase.Assigned => gang with { State = JobState.Assigned, Replicas = Fresh() },
            JobPhase.Running => gang,
            JobPhase.Moving => gang with { RequeueOnExit = true },
            JobPhase.Ending => gang with { State = JobState.Cancelled },
            JobPhase.Succeeded => gang with { State = JobState.Succeeded, HoldsAllocation = false, Replicas = gone },
            JobPhase.Failed => gang with { State = JobState.Failed, HoldsAllocation = false, Replicas = gone },
            _ => gang with { State = JobState.Cancelled, HoldsAllocation = false, Replicas = gone },
        };
    }
}
