using System.Globalization;
using System.Threading.Channels;
using Google.Protobuf;
using Scheduler.Contracts.V1;
using Scheduler.Worker.Agents;
using Scheduler.Worker.Checkpoints;
using Scheduler.Worker.Migration;
using Scheduler.Worker.Telemetry;

namespace Scheduler.Worker.Link;

/// <summary>
/// The one place a master's command is obeyed: the epoch check first (a deposed master's command is
/// ignored), then each kind of body to its handler. A body this worker does not know (empty, or
/// added to the protocol after this worker was built) is rejected on the stream, never dropped silently.
/// </summary>
internal sealed partial class CommandDispatcher
{
    private readonly string _nodeId;
    private readonly EpochStore _epochs;
    private readonly AgentSupervisor _agents;
    private readonly FencingWatchdog _fencing;
    private readonly Action<Registered> _applyTimings;
    private readonly Action<long> _contact;
    private readonly Action<WorkerMessage> _send;
    private readonly WorkerMigration? _migration;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly HashSet<string> _rejectedKinds = new(StringComparer.Ordinal);

    /// <param name="applyTimings">Called with a re-sent <see cref="Registered"/> (the master's timings changed).</param>
    /// <param name="contact">Called with the send time of an acknowledged heartbeat.</param>
    /// <param name="send">Sends to whichever stream is current: a migration outlives the stream its command came on.</param>
    /// <param name="migration">Null where this worker does not take part in migrations: their commands are rejected.</param>
    public CommandDispatcher(
        string nodeId,
        EpochStore epochs,
        AgentSupervisor agents,
        FencingWatchdog fencing,
        Action<Registered> applyTimings,
        Action<long> contact,
        Action<WorkerMessage> send,
        WorkerMigration? migration,
        ILogger logger)
    {
        _send = send;
        _migration = migration;
        _nodeId = nodeId;
        _epochs = epochs;
        _agents = agents;
        _fencing = fencing;
        _applyTimings = applyTimings;
        _contact = contact;
        _logger = logger;
    }

    /// <summary>Where start commands are counted; null where nobody reads metrics (tests).</summary>
    internal WorkerMetrics? Metrics { get; set; }

    public async Task HandleAsync(MasterCommand command, ChannelWriter<WorkerMessage> outbox, HeartbeatSender heartbeats, CancellationToken ct)
    {
        if (!_epochs.Accept(command.Epoch))
        {
            LogStaleCommand(command.BodyCase.ToString(), command.Epoch, _epochs.Highest);
            return;
        }

        switch (command.BodyCase)
        {
            case MasterCommand.BodyOneofCase.Registered:
                _applyTimings(command.Registered);
                break;
            case MasterCommand.BodyOneofCase.Start:
                if (_fencing.SilentFor() is { } silent)
                {
                    // Queued before a freeze or a partition: the master has given this node up since.
                    _agents.RefuseStart(command.Start, $"no contact with the master for {silent.TotalSeconds:F1}s; the start may be stale");
                }
                else
                {
                    await StartAsync(command.Start, ct);
                }

                break;
            case MasterCommand.BodyOneofCase.Stop:
                var stop = command.Stop;
                _agents.Stop(new AgentKey(stop.JobId, stop.Attempt), TimeSpan.FromMilliseconds(Math.Max(0, stop.GraceMs)), stop.Reason);
                break;
            case MasterCommand.BodyOneofCase.Drain:
                LogDrain(_nodeId, command.Drain.Reason);
                break;
            case MasterCommand.BodyOneofCase.FetchLogs:
                outbox.TryWrite(new WorkerMessage { Logs = _agents.ReadLogs(command.FetchLogs) });
                break;
            case MasterCommand.BodyOneofCase.AckExit:
                _agents.Ack(new AgentKey(command.AckExit.JobId, command.AckExit.Attempt));
                break;
            case MasterCommand.BodyOneofCase.HeartbeatAck:
                if (heartbeats.Acknowledged(command.HeartbeatAck.Sequence) is { } sentAt)
                {
                    _contact(sentAt);
                }

                break;
            case MasterCommand.BodyOneofCase.ExpectMigration when _migration is not null:
                if (_migration.Target.Expect(command.ExpectMigration) is { } invalid)
                {
                    outbox.TryWrite(new WorkerMessage { CommandRejected = new CommandRejected { Command = nameof(MasterCommand.ExpectMigration), Reason = invalid } });
                }

                break;
            case MasterCommand.BodyOneofCase.CancelMigration when _migration is not null:
                _migration.Target.Cancel(command.CancelMigration);
                break;
            case MasterCommand.BodyOneofCase.MigrateAgent when _migration is not null:
                _migration.Source.Begin(command.MigrateAgent, report => _send(new WorkerMessage { MigrationReport = report }));
                break;
            case MasterCommand.BodyOneofCase.CheckpointAgent when _migration is not null:
                _migration.Checkpoints.Begin(command.CheckpointAgent, report => _send(new WorkerMessage { CheckpointReport = report }));
                break;
            case MasterCommand.BodyOneofCase.ShipCheckpoint when _migration is not null:
                _migration.Checkpoints.Ship(command.ShipCheckpoint, report => _send(new WorkerMessage { CheckpointReport = report }));
                break;
            default:
                Reject(command, outbox);
                break;
        }
    }

    /// <summary>
    /// Checkpointable agents get the checkpoint contract; one started from a migration resumes from
    /// the checkpoint committed here (which implies the contract), or fails to start saying why.
    /// </summary>
    private async Task StartAsync(StartAgent start, CancellationToken ct)
    {
        // Ends once the process runs (or failed to start): the last span of the job's trace from Submit.
        using var activity = WorkerTracing.StartAgent(_nodeId, start.JobId, start.Attempt, start.Traceparent);
        Metrics?.AgentStartCommanded(_nodeId);
        CheckpointStart? checkpoint = start.Checkpointable ? new CheckpointStart() : null;
        if (start.RestoreMigration.Length > 0)
        {
            if (_migration is null)
            {
                _agents.FailToStart(start, $"restore_migration '{start.RestoreMigration}': {_nodeId} does not receive migrations");
                return;
            }

            checkpoint = _migration.Target.RestoreStart(start.RestoreMigration, out var invalid);
            if (checkpoint is null)
            {
                _agents.FailToStart(start, invalid);
                return;
            }
        }

        await _agents.StartAsync(start, checkpoint, ct);
    }

    /// <summary>
    /// Names a body this worker cannot read: "empty", or the field number a newer master used (a
    /// newer body arrives as an unknown field, so the oneof reads as unset).
    /// </summary>
    internal static string UnknownKind(MasterCommand command)
    {
        if (command.BodyCase != MasterCommand.BodyOneofCase.None)
        {
            return command.BodyCase.ToString();
        }

        var input = new CodedInputStream(command.ToByteArray());
        uint tag;
        while ((tag = input.ReadTag()) != 0)
        {
            var field = WireFormat.GetTagFieldNumber(tag);
            if (field != MasterCommand.EpochFieldNumber)
            {
                return "field " + field.ToString(CultureInfo.InvariantCulture);
            }

            input.SkipLastField();
        }

        return "empty";
    }

    private void Reject(MasterCommand command, ChannelWriter<WorkerMessage> outbox)
    {
        var kind = UnknownKind(command);
        bool first;
        lock (_lock)
        {
            first = _rejectedKinds.Add(kind);
        }

        if (first)
        {
            LogUnknownCommand(kind, command.Epoch);
        }

        outbox.TryWrite(new WorkerMessage
        {
            CommandRejected = new CommandRejected { Command = kind, Reason = "this worker does not know this command; upgrade the worker" },
        });
    }

    [LoggerMessage(23, LogLevel.Warning, "Ignored {Command} from epoch {Epoch}: epoch {Highest} already obeyed")]
    private partial void LogStaleCommand(string command, long epoch, long highest);

    [LoggerMessage(24, LogLevel.Information, "Node {NodeId} is draining: {Reason}")]
    private partial void LogDrain(string nodeId, string reason);

    [LoggerMessage(28, LogLevel.Warning, "Rejected a command this worker does not know ({Command}, epoch {Epoch}); further ones of this kind are rejected without a warning")]
    private partial void LogUnknownCommand(string command, long epoch);
}
