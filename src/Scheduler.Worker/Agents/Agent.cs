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

    public AgentState State { get; set; } = AgentState.Starting;

    public Process? Process { get; set; }

    public int Pid { get; set; }

    public int? ExitCode { get; set; }

    public string Message { get; set; } = "";

    public bool Fenced { get; set; }

    /// <summary>Set once a stop was asked, so the exit is reported as the stop's outcome.</summary>
    public bool StopRequested { get; set; }

    public bool IsLive => State is AgentState.Starting or AgentState.Running;

    public AgentStatus ToStatus()
    {
        var status = new AgentStatus
        {
            JobId = Key.JobId,
            Attempt = Key.Attempt,
            State = State,
            Pid = Pid,
            Message = Message,
            Fenced = Fenced,
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
