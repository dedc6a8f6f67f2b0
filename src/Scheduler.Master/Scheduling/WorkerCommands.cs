using System.Diagnostics;
using Scheduler.Contracts.V1;
using Scheduler.Master.Leadership;
using Scheduler.Master.Store;
using Scheduler.Master.Telemetry;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// Encodes the loop's decisions as commands on the workers' streams, each stamped with the term's
/// epoch, and only while the term is valid: a master paused past its lease withholds the command
/// and ends its term, because a successor may already act on those jobs.
/// </summary>
internal sealed partial class WorkerCommands(LeaderTerm term, MasterOptions options, Func<long> epoch, ILogger logger)
{
    private readonly ILogger _logger = logger;

    /// <summary>Starts <paramref name="job"/>'s current attempt on <paramref name="entry"/>, the node it was placed on.</summary>
    public void Start(NodeEntry entry, JobRecord job)
    {
        LogDispatch(job.Id, job.Attempt, entry.Id, epoch());
        var start = new StartAgent
        {
            JobId = job.Id,
            Attempt = job.Attempt,
            Command = job.Spec.Command,
            WorkingDir = job.Spec.WorkingDir,
            Resources = job.Spec.Resources,
            Checkpointable = job.Spec.Checkpointable,

            // The first attempt on a migration's target resumes from the checkpoint committed there;
            // a job placed again resumes from its stored checkpoint (kept or shipped there).
            // The dispatch span, when the job is traced: the worker continues the job's trace from it.
            Traceparent = Activity.Current is { Source.Name: MasterTracing.SourceName } dispatch ? dispatch.Id : "",
            RestoreMigration = job.LastMigration is { Phase: MigrationOutcome.Moved } moved && job.Attempt == moved.Attempt + 1 && job.NodeId == moved.TargetNode
                ? moved.Id
                : job.RestoreFrom,
        };
        start.Args.Add(job.Spec.Args);
        start.Env.Add(job.Spec.Env);
        start.GpuUuids.Add(job.GpuUuids);
        Send(entry, new MasterCommand { Start = start });
    }

    /// <summary>Starts one replica of gang <paramref name="job"/>'s current attempt on <paramref name="entry"/>, its node.</summary>
    public void StartReplica(NodeEntry entry, JobRecord job, ReplicaRecord replica, GangRank rank)
    {
        var agentId = GangMembers.AgentId(job.Id, replica.Rank);
        LogDispatch(agentId, job.Attempt, entry.Id, epoch());
        var start = new StartAgent
        {
            JobId = agentId,
            Attempt = job.Attempt,
            Command = job.Spec.Command,
            WorkingDir = job.Spec.WorkingDir,
            Resources = job.Spec.Resources,
            Traceparent = Activity.Current is { Source.Name: MasterTracing.SourceName } dispatch ? dispatch.Id : "",
            Gang = rank,
        };
        start.Args.Add(job.Spec.Args);
        start.Env.Add(job.Spec.Env);
        start.GpuUuids.Add(replica.GpuUuids);
        Send(entry, new MasterCommand { Start = start });
    }

    /// <summary>Stops one attempt: SIGTERM, then SIGKILL after the configured grace.</summary>
    public void Stop(NodeEntry entry, string jobId, int attempt, string reason) =>
        Send(entry, new MasterCommand
        {
            Stop = new StopAgent { JobId = jobId, Attempt = attempt, Reason = reason, GraceMs = options.StopGraceMs },
        });

    public void Send(NodeEntry entry, MasterCommand command)
    {
        if (!term.IsValid)
        {
            // Paused or cut off past the lease: a successor may already act on these jobs, so a
            // decision made before the pause is not carried out. The term ends here.
            term.End("its leader lease could not be proven held when a command was due");
            LogCommandWithheld(entry.Id, command.BodyCase.ToString());
            return;
        }

        command.Epoch = epoch();
        if (entry.Session is { } session && !session.Send(command))
        {
            LogSessionOverflow(entry.Id);
        }
    }

    // Debug: one line per start was most of what dispatching cost the loop (see SchedulerLoop.Log.cs).
    [LoggerMessage(3, LogLevel.Debug, "Job {JobId} attempt {Attempt} dispatched to {NodeId} (epoch {Epoch})")]
    private partial void LogDispatch(string jobId, int attempt, string nodeId, long epoch);

    [LoggerMessage(12, LogLevel.Warning, "Node {NodeId} is not reading its commands; its stream is cut")]
    private partial void LogSessionOverflow(string nodeId);

    [LoggerMessage(21, LogLevel.Warning, "Withheld a {Command} command to {NodeId}: this master's leader lease is not proven held")]
    private partial void LogCommandWithheld(string nodeId, string command);
}
