using Scheduler.Contracts.V1;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Store;
using StoredCheckpoint = Scheduler.Master.Store.StoredCheckpoint;

namespace Scheduler.Master.Tests;

/// <summary>The job state machine as a table: every phase × every event → the next phase, or a refusal.</summary>
[TestFixture]
public sealed class JobTransitionsTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    private static readonly string[] Events =
        ["place", "started", "exit 0", "exit 3", "failed to start", "host stop", "fenced", "lost", "move", "cancel", "late exit 0", "suspend", "resume", "checkpointed away"];

    // One row per phase, one column per event above; "-" is a refusal.
    private static readonly Dictionary<JobPhase, string[]> Table = new()
    {
        [JobPhase.Pending] = ["Assigned", "-", "-", "-", "-", "-", "-", "-", "-", "Cancelled", "Succeeded", "-", "-", "-"],
        [JobPhase.Suspended] = ["-", "-", "-", "-", "-", "-", "-", "-", "-", "Cancelled", "-", "-", "Pending", "-"],
        [JobPhase.Assigned] = ["-", "Running", "Succeeded", "Failed", "Failed", "Pending", "Pending", "Pending", "Moving", "Ending", "-", "-", "-", "-"],
        [JobPhase.Running] = ["-", "-", "Succeeded", "Failed", "Failed", "Pending", "Pending", "Pending", "Moving", "Ending", "-", "Suspended", "-", "Pending"],
        [JobPhase.Moving] = ["-", "-", "Pending", "Pending", "Pending", "Pending", "Pending", "Pending", "-", "Ending", "-", "-", "-", "-"],
        [JobPhase.Ending] = ["-", "-", "Cancelled", "Cancelled", "Cancelled", "Cancelled", "Cancelled", "Cancelled", "-", "-", "-", "-", "-", "-"],
        [JobPhase.Succeeded] = ["-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"],
        [JobPhase.Failed] = ["-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"],
        [JobPhase.Cancelled] = ["-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", "-"],
    };

    private static IEnumerable<TestCaseData> Cells() =>
        Table.SelectMany(row => Events.Select((e, i) => new TestCaseData(row.Key.ToString(), e, row.Value[i]).SetArgDisplayNames($"{row.Key} + {e} -> {row.Value[i]}")));

    private static IEnumerable<TestCaseData> Changes() =>
        Cells().Where(c => (string)c.Arguments[2]! != "-");

    [Test]
    public void The_table_covers_every_phase() =>
        Assert.That(Table.Keys, Is.EquivalentTo(Enum.GetValues<JobPhase>()));

    [TestCaseSource(nameof(Cells))]
    public void Each_event_in_each_phase_gives_the_phase_in_the_table(string phaseName, string e, string expected)
    {
        var phase = Enum.Parse<JobPhase>(phaseName);
        var job = In(phase);
        Assert.That(JobTransitions.PhaseOf(job), Is.EqualTo(phase), "the sample record is in the phase it stands for");

        var next = Apply(job, e);

        Assert.That(next is null ? "-" : JobTransitions.PhaseOf(next).ToString(), Is.EqualTo(expected));
    }

    [TestCaseSource(nameof(Changes))]
    public void A_job_holds_capacity_exactly_while_an_agent_may_run(string phaseName, string e, string expected)
    {
        var next = Apply(In(Enum.Parse<JobPhase>(phaseName)), e);
        Assert.That(next, Is.Not.Null, expected);

        var holds = JobTransitions.PhaseOf(next!) is JobPhase.Assigned or JobPhase.Running or JobPhase.Moving or JobPhase.Ending;
        Assert.That(next!.HoldsAllocation, Is.EqualTo(holds));
    }

    [TestCase("fenced", 1)]
    [TestCase("lost", 1)]
    [TestCase("host stop", 0)]
    public void Losing_an_agent_uses_a_retry_unless_its_host_stopped_it(string e, int retriesUsed)
    {
        var next = Apply(In(JobPhase.Running), e)!;

        Assert.That(next.Requeues, Is.EqualTo(retriesUsed));
    }

    [TestCase("fenced")]
    [TestCase("lost")]
    public void Losing_a_start_that_never_reported_running_uses_no_retry_even_past_max_retries(string e)
    {
        // A burst that cuts a worker's stream loses the starts sent on it, and a worker that lost the
        // master refuses the starts it then reads: neither ran anything, so the job waits again.
        var job = In(JobPhase.Assigned) with { Requeues = 3 };

        var next = Apply(job, e)!;

        Assert.That((next.State, next.Requeues), Is.EqualTo((JobState.Pending, 3)));
        Assert.That(Apply(In(JobPhase.Running) with { Requeues = 3 }, e)!.State, Is.EqualTo(JobState.Failed), "one that ran still uses its retries");
    }

    [Test]
    public void A_fenced_agent_whose_process_ran_uses_a_retry_even_if_it_was_never_stored_running()
    {
        // A worker reports a fenced agent EXITED only if its process was launched; its RUNNING report may
        // never have reached the store (the worker lost the master first).
        var next = JobTransitions.Fenced(In(JobPhase.Assigned), ran: true, Now)!;
        var last = JobTransitions.Fenced(In(JobPhase.Assigned) with { Requeues = 3 }, ran: true, Now)!;

        Assert.That((next.State, next.Requeues), Is.EqualTo((JobState.Pending, 1)));
        Assert.That(last.State, Is.EqualTo(JobState.Failed), "past max_retries it fails");
        Assert.That(JobTransitions.Fenced(In(JobPhase.Moving), ran: true, Now)!.Requeues, Is.Zero, "a moving job was being requeued anyway");
    }

    [Test]
    public void A_late_report_that_a_lost_start_ran_and_was_fenced_uses_the_retry_its_loss_did_not()
    {
        var lost = JobTransitions.Lost(In(JobPhase.Assigned), "node gone", Now)!;
        Assert.That((lost.Requeues, lost.LostAttemptUncounted), Is.EqualTo((0, true)));

        var charged = JobTransitions.LateFenced(lost, 2, "n1", Now)!;

        Assert.That((charged.State, charged.Requeues, charged.LostAttemptUncounted), Is.EqualTo((JobState.Pending, 1, false)));
        Assert.That(JobTransitions.LateFenced(charged, 2, "n1", Now), Is.Null, "a repeated report uses no second retry");
        Assert.That(JobTransitions.LateFenced(lost, 2, "n2", Now), Is.Null, "another node");
        Assert.That(JobTransitions.LateFenced(lost, 1, "n0", Now), Is.Null, "an attempt that was not lost");
        Assert.That(JobTransitions.LateFenced(JobTransitions.Lost(In(JobPhase.Running), "node gone", Now)!, 2, "n1", Now), Is.Null, "its loss already used a retry");
        Assert.That(JobTransitions.LateFenced(JobTransitions.Lost(In(JobPhase.Moving), "node gone", Now)!, 2, "n1", Now), Is.Null, "a moving job was being requeued anyway");
    }

    [Test]
    public void Past_max_retries_a_late_report_that_a_lost_start_ran_fails_the_job_and_stops_its_rerun()
    {
        var lost = JobTransitions.Lost(In(JobPhase.Assigned) with { Requeues = 3 }, "node gone", Now)!;
        var rerun = JobTransitions.Started(JobTransitions.Place(lost, "n2", [], [], Now)!, Now)!;

        var waiting = JobTransitions.LateFenced(lost, 2, "n1", Now)!;
        var running = JobTransitions.LateFenced(rerun, 2, "n1", Now)!;

        Assert.That((waiting.State, waiting.HoldsAllocation), Is.EqualTo((JobState.Failed, false)));
        Assert.That(waiting.Message, Does.Contain("max_retries is 3"));
        Assert.That((running.State, JobTransitions.PhaseOf(running), running.HoldsAllocation), Is.EqualTo((JobState.Failed, JobPhase.Ending, true)), "held until the rerun has stopped");
    }

    [Test]
    public void A_moving_job_requeued_by_its_exit_or_its_loss_uses_no_retry()
    {
        Assert.That(Apply(In(JobPhase.Moving), "exit 3")!.Requeues, Is.Zero);
        Assert.That(Apply(In(JobPhase.Moving), "lost")!.Requeues, Is.Zero);
        Assert.That(Apply(In(JobPhase.Moving), "fenced")!.Requeues, Is.Zero);
    }

    [Test]
    public void Past_max_retries_a_lost_job_fails_instead_of_waiting_again()
    {
        var job = In(JobPhase.Running) with { Requeues = 3 };

        var next = JobTransitions.Lost(job, "node gone", Now)!;

        Assert.That(next.State, Is.EqualTo(JobState.Failed));
        Assert.That(next.Message, Does.Contain("max_retries is 3"));
    }

    [Test]
    public void Only_the_lost_attempt_on_its_node_may_end_the_job_by_a_late_report()
    {
        var lost = JobTransitions.Lost(In(JobPhase.Running), "node gone", Now)!;

        Assert.That(JobTransitions.LateExit(lost, lost.Attempt, 0, "n1", Now)?.State, Is.EqualTo(JobState.Succeeded));
        Assert.That(JobTransitions.LateExit(lost, lost.Attempt, 0, "n2", Now), Is.Null, "another node");
        Assert.That(JobTransitions.LateExit(lost, lost.Attempt - 1, 0, "n1", Now), Is.Null, "an older attempt");
        var hostStopped = JobTransitions.HostStopped(In(JobPhase.Running), Now)!;
        Assert.That(JobTransitions.LateExit(hostStopped, hostStopped.Attempt, 0, "n1", Now), Is.Null, "its exit was already recorded");
    }

    [Test]
    public void A_late_success_of_the_lost_attempt_ends_the_rerun_and_keeps_its_capacity_until_it_stops()
    {
        var rerun = JobTransitions.Started(JobTransitions.Place(JobTransitions.Lost(In(JobPhase.Running), "node gone", Now)!, "n2", [], [], Now)!, Now)!;

        var done = JobTransitions.Superseded(rerun, 2, "n1", Now)!;

        Assert.That((done.State, JobTransitions.PhaseOf(done), done.HoldsAllocation, done.NodeId, done.Attempt), Is.EqualTo((JobState.Succeeded, JobPhase.Ending, true, "n2", 3)));
        var stopped = JobTransitions.Exited(done, 137, Now)!;
        Assert.That((stopped.State, stopped.HoldsAllocation, stopped.ExitCode), Is.EqualTo((JobState.Succeeded, false, 0)), "the rerun's kill changes no outcome");
        Assert.That(JobTransitions.Superseded(rerun, 2, "n2", Now), Is.Null, "only from the node the lost attempt ran on");
        Assert.That(JobTransitions.Superseded(rerun, 3, "n2", Now), Is.Null, "not the current attempt");
        Assert.That(JobTransitions.Superseded(In(JobPhase.Running), 1, "n0", Now), Is.Null, "an attempt that was not lost");
    }

    [Test]
    public void Placing_starts_the_next_attempt_and_records_its_node()
    {
        var placed = JobTransitions.Place(In(JobPhase.Pending), "n2", [], [], Now)!;

        Assert.That(placed.Attempt, Is.EqualTo(3));
        Assert.That(placed.NodeOf(3), Is.EqualTo("n2"));
        Assert.That(placed.NodeOf(2), Is.EqualTo("n1"));
        Assert.That(placed.LostAttempt, Is.EqualTo(2), "a late success of the lost attempt can still end the job");
    }

    [Test]
    public void A_job_placed_on_a_node_that_holds_its_checkpoint_restores_from_it_and_elsewhere_waits_for_a_shipment()
    {
        var resumed = JobTransitions.Resumed(In(JobPhase.Suspended), Now)!;

        Assert.That(JobTransitions.Place(resumed, "n3", [], [], Now)!.RestoreFrom, Is.EqualTo("c-1"));
        Assert.That(JobTransitions.Place(resumed, "n2", [], [], Now)!.RestoreFrom, Is.Empty);
        Assert.That(JobTransitions.Place(resumed, "n3", [], [], Now)!.Checkpoint, Is.EqualTo(Checkpoint), "kept until a newer one is stored");
    }

    [Test]
    public void A_checkpointed_preemption_victim_is_requeued_without_using_a_retry()
    {
        var next = JobTransitions.CheckpointedAway(In(JobPhase.Running), Checkpoint, "preempted by j-2", Now)!;

        Assert.That((next.State, next.Requeues, next.HoldsAllocation, next.Checkpoint), Is.EqualTo((JobState.Pending, 0, false, Checkpoint)));
    }

    private static readonly StoredCheckpoint Checkpoint = new("c-1", ["n1", "n3"], 2, 4096, Now);

    private static JobRecord? Apply(JobRecord job, string e) => e switch
    {
        "place" => JobTransitions.Place(job, "n2", [], [], Now),
        "started" => JobTransitions.Started(job, Now),
        "exit 0" => JobTransitions.Exited(job, 0, Now),
        "exit 3" => JobTransitions.Exited(job, 3, Now),
        "failed to start" => JobTransitions.FailedToStart(job, "no such command", Now),
        "host stop" => JobTransitions.HostStopped(job, Now),
        "fenced" => JobTransitions.Fenced(job, ran: false, Now),
        "lost" => JobTransitions.Lost(job, "node gone", Now),
        "move" => JobTransitions.Move(job, "draining", Now),
        "cancel" => JobTransitions.Cancel(job, Now),
        "late exit 0" => JobTransitions.LateExit(job, job.Attempt, 0, "n1", Now),
        "suspend" => JobTransitions.Suspended(job, Checkpoint, Now),
        "resume" => JobTransitions.Resumed(job, Now),
        "checkpointed away" => JobTransitions.CheckpointedAway(job, Checkpoint, "preempted", Now),
        _ => throw new ArgumentException(e),
    };

    /// <summary>A job at attempt 2 on node n1 in <paramref name="phase"/> (a pending one lost attempt 2 there).</summary>
    private static JobRecord In(JobPhase phase)
    {
        var job = new JobRecord
        {
            Id = "j-000001",
            Sequence = 1,
            RequestId = "r1",
            Spec = new JobSpec { Command = "/bin/true", MaxRetries = 3 },
            State = JobState.Running,
            Attempt = 2,
            NodeId = "n1",
            AttemptNodes = ["n0", "n1"],
            HoldsAllocation = true,
            CreatedAt = Now,
            UpdatedAt = Now,
        };
        return phase switch
        {
            JobPhase.Pending => job with { State = JobState.Pending, HoldsAllocation = false, LostAttempt = 2 },
            JobPhase.Suspended => job with { State = JobState.Suspended, HoldsAllocation = false, Checkpoint = Checkpoint },
            JobPhase.Assigned => job with { State = JobState.Assigned },
            JobPhase.Running => job,
            JobPhase.Moving => job with { RequeueOnExit = true },
            JobPhase.Ending => job with { State = JobState.Cancelled },
            JobPhase.Succeeded => job with { State = JobState.Succeeded, HoldsAllocation = false },
            JobPhase.Failed => job with { State = JobState.Failed, HoldsAllocation = false },
            _ => job with { State = JobState.Cancelled, HoldsAllocation = false },
        };
    }
}
