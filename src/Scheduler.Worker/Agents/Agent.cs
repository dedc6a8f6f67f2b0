using System.Diagnostics;
using Scheduler.Contracts.V1;

namespace Scheduler.Worker.Agents;

/// <summary>One agent process and what the worker knows of it. Mutated only under the supervisor's lock.</summary>
internal sealed class Agent
{
    public Agent(AgentKey key, IReadOnlyList<string> gpuUuids, string directory)
    {
        Key = key;
        GpuUuids = gpuUuids;
        Directory = directory;
    }

    public AgentKey Key { get; }

    public IReadOnlyList<string> GpuUuids { get; }

    /// <summary>agents/JOB/ATTEMPT under the data folder: stdout.log, stderr.log, work/.</summary>
    public string Directory { get; }

    /// <summary>checkpoints/JOB/ATTEMPT under the data folder; null unless the job is checkpointable.</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>The complete checkpoint the agent resumes from, if it was started to resume.</summary>
    public string? RestoreDirectory { get; init; }

    /// <summary>Where <see cref="RestoreDirectory"/> came from (e.g. "migration m-1"), for messages.</summary>
    public string? RestoreOrigin { get; init; }

    /// <summary>Who the agent runs as once prepared; null: the worker's own user.</summary>
    public AgentUser? User { get; set; }

    public AgentState State { get; set; } = AgentState.Starting;

    public Process? Process { get; set; }

    public int Pid { get; set; }

    public int? ExitCode { get; set; }

    public string Message { get; set; } = "";

    public bool Fenced { get; set; }

    /// <summary>Stopped because the worker itself is shutting down: the job is requeued without using a retry.</summary>
    public bool HostStop { get; set; }

    /// <summary>Stopped because it moved: its checkpoint is committed on a migration's target, where the job resumes.</summary>
    public bool Migrated { get; set; }

    /// <summary>Every process of the agent, once it is started.</summary>
    public AgentTree? Tree { get; set; }

    /// <summary>The keeper writes this file before it kills the agent, so its exit is reported as fenced.</summary>
    public string FencedMarker => Path.Combine(Directory, "fenced");

    /// <summary>Set once a stop was asked, so the exit is reported as the stop's outcome.</summary>
    public bool StopRequested { get; set; }

    public bool IsLive => State is AgentState.Starting or AgentState.Running;

    private bool ExitedCleanly => State == AgentState.Exited && ExitCode == 0;

    public AgentStatus ToStatus()
    {
        var status = new AgentStatus
        {
            JobId = Key.JobId,
            Attempt = Key.Attempt,
            State = State,
            Pid = Pid,
            Message = Message,

            // An agent that exits 0 finished its work, even during a stop: running it again would run it twice.
            Fenced = Fenced && !ExitedCleanly,
            HostStop = HostStop && !ExitedCleanly,
            Migrated = Migrated && !ExitedCleanly,
        };
        if (ExitCode is { } code)
        {
            status.ExitCode = code;
        }

        if (State == AgentState.Running && Pid > 0 && ProcStats.TryRead(Pid, out var cpuMs, out var rssMib))
        {
            status.CpuTimeMs = cpuMs;
            status.MemoryRssMib = rssMib;
        }

        return status;
    }
}
