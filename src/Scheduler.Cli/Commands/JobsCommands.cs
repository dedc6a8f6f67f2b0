using System.CommandLine;
using Scheduler.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl jobs list|get|cancel|watch|wait` and `schedctl logs`.</summary>
internal static class JobsCommands
{
    private static readonly Argument<string> Id = new("job") { Description = "Job id" };

    public static Command Create()
    {
        var jobs = new Command("jobs", "List, inspect, cancel and watch jobs") { State, Limit };
        jobs.Aliases.Add("job");
        var list = List();
        jobs.Add(list);
        jobs.Add(Get());
        jobs.Add(Cancel());
        jobs.Add(Watch());
        jobs.Add(WaitCommand());
        jobs.Add(Migrations());
        jobs.Add(Suspend());
        jobs.Add(Resume());
        jobs.Add(WhyCommand.Create());

        // `schedctl jobs` alone lists.
        jobs.SetAction(ListAction);
        return jobs;
    }

    public static Command Logs()
    {
        var stderr = new Option<bool>("--stderr") { Description = "Show stderr instead of stdout" };
        var tail = new Option<int>("--tail") { Description = "Bytes from the end (default 64 KiB)" };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep printing new output until the job finishes" };
        var attempt = new Option<int>("--attempt") { Description = "Output of this attempt (1 for the first; default: the current or last one)" };
        var command = new Command("logs", "Show a job's captured output (through the master)") { Id, stderr, tail, follow, attempt };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var id = parse.GetValue(Id)!;
            var stream = parse.GetValue(stderr) ? LogStream.Stderr : LogStream.Stdout;
            if (parse.GetValue(follow))
            {
                if (parse.GetValue(attempt) != 0)
                {
                    throw new FormatException("--follow shows the current attempt; leave out --attempt");
                }

                await new LogFollower(client, printer.Writer, id, stream).RunAsync(parse.GetValue(tail), ct);
                return Cli.Ok;
            }

            var logs = await client.GetLogsAsync(id, stream, parse.GetValue(tail), parse.GetValue(attempt), ct);
            if (printer.IsJson)
            {
                printer.Message(logs);
                return Cli.Ok;
            }

            if (logs.Truncated)
            {
                printer.Line("[... earlier output truncated]");
            }

            printer.Line(logs.Data.ToStringUtf8().TrimEnd('\n'));
            return Cli.Ok;
        }));
        return command;
    }

    internal static async Task<int> WaitAsync(SchedulerClient client, Printer printer, string id, TimeSpan? timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        if (timeout is { } t)
        {
            limit.CancelAfter(t);
        }

        try
        {
            await foreach (var job in client.WatchJobsAsync(id, limit.Token))
            {
                if (job.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled)
                {
                    printer.Job(job);
                    return job.State == JobState.Succeeded ? Cli.Ok : Cli.JobFailed;
                }
            }
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            printer.Line($"timed out waiting for {id}");
        }

        return Cli.JobFailed;
    }

    private static readonly Option<string[]> State = new("--state") { Description = "Only jobs in this state (repeatable): pending, running, succeeded..." };
    private static readonly Option<int> Limit = new("--limit")
    {
        Description = "At most this many, newest first; 0 for all (fetched page by page)",
        DefaultValueFactory = _ => 1000,
    };

    private static readonly Func<ParseResult, CancellationToken, Task<int>> ListAction = Cli.Action(async (parse, client, printer, ct) =>
    {
        var states = (parse.GetValue(State) ?? []).Select(ParseState).ToArray();
        var limit = parse.GetValue(Limit);
        if (limit < 0)
        {
            throw new FormatException($"--limit: must not be negative (got {limit})");
        }

        // One more than shown says whether the list was cut short.
        var jobs = await client.ListJobsAsync(states, limit == 0 ? 0 : limit + 1, ct);
        printer.Jobs(jobs.Take(limit == 0 ? jobs.Count : limit));
        if (limit > 0 && jobs.Count > limit)
        {
            await parse.InvocationConfiguration.Error.WriteLineAsync($"(the newest {limit} shown; --limit 0 shows all, --state filters)");
        }

        return Cli.Ok;
    });

    internal static Command List()
    {
        var command = new Command("list", "List jobs, newest first") { State, Limit };
        command.SetAction(ListAction);
        return command;
    }

    internal static Command Get()
    {
        var command = new Command("get", "Show one job") { Id };
        command.Aliases.Add("describe");
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            printer.Job(await client.GetJobAsync(parse.GetValue(Id)!, ct));
            return Cli.Ok;
        }));
        return command;
    }

    /// <summary>`schedctl migrate JOB [--to NODE] [--wait]`.</summary>
    internal static Command Migrate()
    {
        var to = new Option<string?>("--to") { Description = "Target node (default: the scheduler picks one that fits)" };
        var wait = new Option<bool>("--wait") { Description = "Wait until the migration has moved or rolled back, and print how it went" };
        var command = new Command("migrate", "Move a running checkpointable job live to another node, with its state") { Id, to, wait };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var job = await client.MigrateJobAsync(parse.GetValue(Id)!, parse.GetValue(to), ct);
            var migrationId = job.Migration?.Id ?? "";
            if (parse.GetValue(wait))
            {
                while (job.LastMigration?.Id != migrationId || (job.LastMigration.Phase == "moved" && job.LastMigration.DowntimeMs == 0 && job.State is JobState.Assigned or JobState.Running))
                {
                    await Task.Delay(100, ct);
                    job = await client.GetJobAsync(job.Id, ct);
                    if (job.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled)
                    {
                        break;
                    }
                }
            }

            if (printer.IsJson)
            {
                printer.Message(job);
                return Cli.Ok;
            }

            printer.Line(job.LastMigration?.Id == migrationId && migrationId.Length > 0
                ? Printer.Migration(job.LastMigration)
                : $"{job.Id} {Printer.StateName(job.State)}: {migrationId} {job.Migration?.SourceNode} -> {job.Migration?.TargetNode}");
            return job.LastMigration is { Phase: "rolled back" } last && last.Id == migrationId ? Cli.JobFailed : Cli.Ok;
        }));
        return command;
    }

    /// <summary>`schedctl jobs suspend JOB [--wait]`: checkpoint, stop, free the capacity.</summary>
    internal static Command Suspend()
    {
        var wait = new Option<bool>("--wait") { Description = "Wait until the job is SUSPENDED (or the checkpoint failed), and print where its checkpoint is kept" };
        var command = new Command("suspend", "Checkpoint a running checkpointable job, stop it and free its GPUs; `jobs resume` restores it anywhere") { Id, wait };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var job = await client.SuspendJobAsync(parse.GetValue(Id)!, ct);
            if (parse.GetValue(wait))
            {
                while (job.State != JobState.Suspended && job.CheckpointInProgress == "suspend")
                {
                    await Task.Delay(100, ct);
                    job = await client.GetJobAsync(job.Id, ct);
                }
            }

            if (printer.IsJson)
            {
                printer.Message(job);
            }
            else
            {
                printer.Line(job.State == JobState.Suspended && job.Checkpoint is { } checkpoint
                    ? $"{job.Id} SUSPENDED: checkpoint {Printer.Checkpoint(checkpoint)}"
                    : $"{job.Id} {Printer.StateName(job.State)}: {(job.CheckpointInProgress.Length > 0 ? "suspending" : job.Message)}");
            }

            return parse.GetValue(wait) && job.State != JobState.Suspended ? Cli.JobFailed : Cli.Ok;
        }));
        return command;
    }

    /// <summary>`schedctl jobs resume JOB`.</summary>
    internal static Command Resume()
    {
        var command = new Command("resume", "Queue a suspended job again; it resumes from its checkpoint wherever it is placed") { Id };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var job = await client.ResumeJobAsync(parse.GetValue(Id)!, ct);
            if (printer.IsJson)
            {
                printer.Message(job);
            }
            else
            {
                printer.Line($"{job.Id} {Printer.StateName(job.State)}: {job.Message}");
            }

            return Cli.Ok;
        }));
        return command;
    }

    /// <summary>`schedctl jobs migrations`: recent migrations with their downtime.</summary>
    internal static Command Migrations()
    {
        var command = new Command("migrations", "Recent live migrations: where, how they ended, rounds, bytes, downtime");
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var jobs = await client.ListJobsAsync(null, 1000, ct);
            printer.Migrations(jobs
                .Where(j => j.Migration is not null || j.LastMigration is not null)
                .OrderByDescending(j => (j.Migration ?? j.LastMigration).StartedAt?.ToDateTimeOffset() ?? DateTimeOffset.MinValue));
            return Cli.Ok;
        }));
        return command;
    }

    internal static Command Cancel()
    {
        var command = new Command("cancel", "Cancel a job; its agent is stopped") { Id };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var job = await client.CancelJobAsync(parse.GetValue(Id)!, ct);
            if (printer.IsJson)
            {
                printer.Message(job);
            }
            else
            {
                printer.Line($"{job.Id} {Printer.StateName(job.State)}");
            }

            return Cli.Ok;
        }));
        return command;
    }

    internal static Command Watch()
    {
        var id = new Argument<string?>("job") { Description = "Only this job (default: all)", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("watch", "Stream job state changes until interrupted (or until the one job watched finishes)") { id };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var only = parse.GetValue(id);
            try
            {
                await foreach (var job in client.WatchJobsAsync(only, ct))
                {
                    if (printer.IsJson)
                    {
                        printer.Message(job);
                    }
                    else
                    {
                        printer.Line($"{job.UpdatedAt?.ToDateTimeOffset():HH:mm:ss} {job.Id} {job.Spec.Name} {Printer.StateName(job.State)} {job.NodeId} {(job.State == JobState.Pending ? job.PendingReason : job.Message)}");
                    }

                    if (only is not null && job.State is JobState.Succeeded or JobState.Failed or JobState.Cancelled)
                    {
                        break;
                    }
                }
            }
            catch (Exception ex) when (ct.IsCancellationRequested && ex is OperationCanceledException or Grpc.Core.RpcException { StatusCode: Grpc.Core.StatusCode.Cancelled })
            {
                // Ctrl+C is how a watch of every job ends.
            }

            return Cli.Ok;
        }));
        return command;
    }

    internal static Command WaitCommand()
    {
        var timeout = new Option<double?>("--timeout") { Description = "Give up after this many seconds (exit 1)" };
        var command = new Command("wait", "Wait until a job finishes; exit 0 only if it succeeded") { Id, timeout };
        command.SetAction(Cli.Action((parse, client, printer, ct) =>
            WaitAsync(client, printer, parse.GetValue(Id)!, parse.GetValue(timeout) is { } s ? TimeSpan.FromSeconds(s) : null, ct)));
        return command;
    }

    private static JobState ParseState(string text) =>
        Enum.TryParse<JobState>(text.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out var state) && state != JobState.Unspecified
            ? state
            : throw new FormatException($"--state: '{text}' is not a job state (pending, assigned, running, succeeded, failed, cancelled, lost)");
}
