using System.Globalization;
using Google.Protobuf;
using Scheduler.Contracts.V1;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Scheduler.Cli;

/// <summary>Human tables (Spectre.Console) or JSON for scripts (<see cref="ProtoJson"/>).</summary>
internal sealed class Printer
{
    // In table output a cell longer than this is cut ("wide" and "json" show it whole), so one long message
    // does not stretch every row of the table past the screen.
    internal const int MaxCell = 60;

    private readonly TextWriter _out;
    private readonly IAnsiConsole _console;

    public Printer(string format, TextWriter output)
    {
        Format = format;
        _out = output;
        _console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
        });
        // Like kubectl, print long rows whole rather than squeezing cells into wrapped fragments: a table only
        // takes the width its content needs, and scripts grepping the output must see whole ids and UUIDs.
        _console.Profile.Width = 1024;
    }

    public string Format { get; }

    public TextWriter Writer => _out;

    public bool IsJson => Format == "json";

    public bool IsWide => Format == "wide";

    public void Line(string text) => _out.WriteLine(text);

    public void Message(IMessage message) => _out.WriteLine(ProtoJson.Format(message));

    public void Jobs(IEnumerable<Job> jobs)
    {
        if (IsJson)
        {
            _out.WriteLine(ProtoJson.FormatList("jobs", jobs));
            return;
        }

        var table = NewTable("ID", "NAME", "STATE", "NODE", "ATTEMPT", "EXIT", "PRIORITY", "RESOURCES", IsWide ? "GPUS" : null, "MESSAGE");
        foreach (var job in jobs)
        {
            AddRow(
                table,
                job.Id,
                Cut(job.Spec.Name),
                StateName(job.State),
                job.NodeId,
                job.Attempt.ToString(CultureInfo.InvariantCulture),
                job.HasExitCode ? job.ExitCode.ToString(CultureInfo.InvariantCulture) : "",
                job.Spec.Priority.ToString(CultureInfo.InvariantCulture),
                Describe(job.Spec.Resources),
                IsWide ? string.Join(',', job.GpuUuids) : null,
                Cut(job.State == JobState.Pending ? job.PendingReason : job.Message));
        }

        _console.Write(table);
    }

    public void Job(Job job)
    {
        if (IsJson)
        {
            Message(job);
            return;
        }

        var grid = new Grid().AddColumn().AddColumn();
        void Row(string key, string? value) => grid.AddRow(new Text(key), new Text(value ?? ""));
        Row("ID", job.Id);
        Row("Name", job.Spec.Name);
        Row("State", StateName(job.State));
        Row("Pending reason", job.PendingReason);
        Row("Message", job.Message);
        Row("Node", job.NodeId);
        Row("Attempt", job.Attempt.ToString(CultureInfo.InvariantCulture));
        Row("Requeues", job.Requeues.ToString(CultureInfo.InvariantCulture));
        Row("Exit code", job.HasExitCode ? job.ExitCode.ToString(CultureInfo.InvariantCulture) : "");
        Row("GPUs", Gpus(job));
        if (job.Spec.Topology.Length > 0)
        {
            Row("Topology", $"{job.Spec.Topology} (required)");
        }

        Row("Command", string.Join(' ', new[] { job.Spec.Command }.Concat(job.Spec.Args)));
        Row("Resources", Describe(job.Spec.Resources));
        Row("Priority", job.Spec.Priority.ToString(CultureInfo.InvariantCulture));
        Row("Tenant", job.Spec.Tenant);
        Row("Request id", job.RequestId);
        Row("Created", job.CreatedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture));
        Row("Started", job.StartedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture));
        Row("Finished", job.FinishedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture));
        if (job.Migration is { } m)
        {
            Row("Migrating", $"{m.Id}: {m.SourceNode} -> {m.TargetNode} ({m.Phase})");
        }

        if (job.LastMigration is { } last)
        {
            Row("Last migration", Migration(last));
        }

        if (job.Spec.CheckpointIntervalS > 0)
        {
            Row("Checkpoint every", $"{job.Spec.CheckpointIntervalS} s");
        }

        if (job.Checkpoint is { } checkpoint)
        {
            Row("Checkpoint", Checkpoint(checkpoint));
        }

        if (job.CheckpointInProgress.Length > 0)
        {
            Row("Checkpointing", job.CheckpointInProgress);
        }

        if (job.Spec.Replicas > 1)
        {
            Row("Replicas", job.Spec.Replicas.ToString(CultureInfo.InvariantCulture));
        }

        _console.Write(grid);
        if (job.Replicas.Count > 0)
        {
            // Every replica of the gang's current (or last) attempt: where it runs and how far it got.
            var table = NewTable("RANK", "NODE", "ADDRESS", "STATE", "EXIT", "GPUS");
            foreach (var replica in job.Replicas)
            {
                AddRow(
                    table,
                    replica.Rank.ToString(CultureInfo.InvariantCulture),
                    replica.NodeId,
                    replica.Address,
                    ReplicaStateName(replica.State),
                    replica.HasExitCode ? replica.ExitCode.ToString(CultureInfo.InvariantCulture) : "",
                    Gpus(replica));
            }

            _console.Write(table);
        }
    }

    /// <summary>JOB_REPLICA_STATE_RUNNING → "RUNNING".</summary>
    internal static string ReplicaStateName(JobReplicaState state) =>
        state == JobReplicaState.Unspecified ? "" : state.ToString().ToUpperInvariant();

    /// <summary>One line for a stored checkpoint: id, holders, size, when.</summary>
    public static string Checkpoint(StoredCheckpoint c) =>
        $"{c.Id} on {string.Join(", ", c.Nodes)}, {Quantity(c.Bytes)}, attempt {c.Attempt}, taken {c.TakenAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture)}";

    /// <summary>One line for a migration: where, how it ended, rounds, bytes, downtime.</summary>
    public static string Migration(MigrationStatus m) =>
        $"{m.Id}: {m.SourceNode} -> {m.TargetNode} {m.Phase}, {m.Rounds} rounds, {Quantity(m.BytesSent)}" +
        (m.DowntimeMs > 0 ? $", downtime {m.DowntimeMs} ms" : "") + (m.Error.Length > 0 ? $": {m.Error}" : "");

    private static string Quantity(long bytes) =>
        bytes >= 1 << 30 ? $"{bytes / (double)(1 << 30):0.00} GiB" : bytes >= 1 << 20 ? $"{bytes / (double)(1 << 20):0.0} MiB" : $"{bytes} B";

    /// <summary>Jobs' last migrations, newest first.</summary>
    public void Migrations(IEnumerable<Job> jobs)
    {
        if (IsJson)
        {
            _out.WriteLine(ProtoJson.FormatList("jobs", jobs));
            return;
        }

        var table = NewTable("JOB", "MIGRATION", "FROM", "TO", "PHASE", "ROUNDS", "SENT", "DOWNTIME", "FINISHED");
        foreach (var job in jobs)
        {
            var m = job.Migration ?? job.LastMigration;
            AddRow(
                table,
                job.Id,
                m.Id,
                m.SourceNode,
                m.TargetNode,
                m.Phase,
                m.Rounds.ToString(CultureInfo.InvariantCulture),
                Quantity(m.BytesSent),
                m.DowntimeMs > 0 ? $"{m.DowntimeMs} ms" : "",
                m.FinishedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture) ?? "");
        }

        _console.Write(table);
    }

    public void Nodes(IEnumerable<Node> nodes)
    {
        if (IsJson)
        {
            _out.WriteLine(ProtoJson.FormatList("nodes", nodes));
            return;
        }

        var table = NewTable("NODE", "HEALTH", "SCHEDULING", "CPU FREE/TOTAL", "MEMORY FREE/TOTAL", "GPUS FREE/TOTAL", "MODEL", "JOBS", IsWide ? "LABELS" : null);
        foreach (var node in nodes)
        {
            AddRow(
                table,
                node.Id,
                node.Health.ToString().ToUpperInvariant(),
                node.Draining ? "draining" : node.Cordoned ? "cordoned" : "enabled",
                $"{node.Free.CpuMillis}m/{node.Capacity.CpuMillis}m",
                $"{node.Free.MemoryMib}/{node.Capacity.MemoryMib} MiB",
                $"{node.Free.Gpus}/{node.Gpus.Count}",
                string.Join(',', node.Gpus.Select(g => g.Info.Model).Distinct()),
                node.JobIds.Count.ToString(CultureInfo.InvariantCulture),
                IsWide ? string.Join(',', node.Labels.Select(kv => $"{kv.Key}={kv.Value}")) : null);
        }

        _console.Write(table);
    }

    public void Tokens(IEnumerable<AccessToken> tokens)
    {
        if (IsJson)
        {
            _out.WriteLine(ProtoJson.FormatList("tokens", tokens));
            return;
        }

        var table = NewTable("ID", "NAME", "ROLE", "TENANT", "CREATED", "REVOKED");
        foreach (var token in tokens)
        {
            AddRow(
                table,
                token.Id,
                Cut(token.Name),
                token.Role,
                token.Tenant,
                token.CreatedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture) ?? "",
                token.Revoked ? token.RevokedAt?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture) ?? "yes" : "");
        }

        _console.Write(table);
    }

    public void Node(Node node)
    {
        if (IsJson)
        {
            Message(node);
            return;
        }

        Nodes([node]);
        var gpus = NewTable("GPU", "UUID", "MODEL", "FREE MILLI", "UTIL %", "MEMORY USED/TOTAL", "TEMP C", "POWER W", "ECC", "JOBS");
        foreach (var gpu in node.Gpus)
        {
            var t = gpu.Telemetry ?? new GpuTelemetry();
            AddRow(
                gpus,
                gpu.Info.Index.ToString(CultureInfo.InvariantCulture),
                gpu.Info.Uuid,
                gpu.Info.Model,
                gpu.FreeMilli.ToString(CultureInfo.InvariantCulture),
                t.UtilizationPercent.ToString(CultureInfo.InvariantCulture),
                $"{t.MemoryUsedMib}/{gpu.Info.MemoryMib} MiB",
                t.TemperatureC.ToString(CultureInfo.InvariantCulture),
                (t.PowerMw / 1000.0).ToString("F0", CultureInfo.InvariantCulture),
                t.EccErrors.ToString(CultureInfo.InvariantCulture),
                string.Join(',', gpu.JobIds));
        }

        _console.Write(gpus);
        Topology(node);
        Line($"Labels: {string.Join(", ", node.Labels.Select(kv => $"{kv.Key}={kv.Value}"))}");
        Line($"Capabilities: {(node.Capabilities.Count > 0 ? string.Join(", ", node.Capabilities) : "none reported")}");
        Line($"Last heartbeat: {node.LastHeartbeat?.ToDateTimeOffset().ToString("u", CultureInfo.InvariantCulture)}  Worker: {node.WorkerVersion}");
    }

    /// <summary>"0, 1 (GPU-a, GPU-b)": a job's GPU indices on its node, then their UUIDs.</summary>
    public static string Gpus(Job job) =>
        job.GpuUuids.Count == 0 ? ""
        : job.GpuIndices.Count == job.GpuUuids.Count ? $"{string.Join(", ", job.GpuIndices)} ({string.Join(", ", job.GpuUuids)})"
        : string.Join(", ", job.GpuUuids);

    /// <summary>"4, 5 (GPU-a, GPU-b)": a gang replica's GPU indices on its node, then their UUIDs.</summary>
    public static string Gpus(JobReplica replica) =>
        replica.GpuUuids.Count == 0 ? ""
        : replica.GpuIndices.Count == replica.GpuUuids.Count ? $"{string.Join(", ", replica.GpuIndices)} ({string.Join(", ", replica.GpuUuids)})"
        : string.Join(", ", replica.GpuUuids);

    /// <summary>
    /// The node's GPU topology: its NVLink islands, PCIe switch and NUMA groups as index lists, then each GPU's
    /// NVLink peers; one line saying so when the worker reported none.
    /// </summary>
    private void Topology(Node node)
    {
        var gpus = node.Gpus.Select(g => g.Info).ToList();
        if (gpus.Count == 0)
        {
            return;
        }

        if (gpus.All(g => g.NvlinkIsland == 0 && g.PcieSwitch == 0 && g.NumaNode == 0))
        {
            Line("Topology: not reported (every multi-GPU set counts as connected across the system)");
            return;
        }

        var table = NewTable("GPU", "NVLINK ISLAND", "PCIE SWITCH", "NUMA NODE", "NVLINK PEERS");
        foreach (var g in gpus)
        {
            AddRow(table, Index(g.Index), Group(g.NvlinkIsland), Group(g.PcieSwitch), Group(g.NumaNode), g.NvlinkPeers.Count == 0 ? "-" : IndexList(g.NvlinkPeers));
        }

        Line("Topology:");
        _console.Write(table);
        Line($"NVLink islands: {Groups(gpus, g => g.NvlinkIsland)}");
        Line($"PCIe switches:  {Groups(gpus, g => g.PcieSwitch)}");
        Line($"NUMA nodes:     {Groups(gpus, g => g.NumaNode)}");

        static string Group(int id) => id == 0 ? "-" : Index(id);

        static string Groups(List<GpuInfo> gpus, Func<GpuInfo, int> id)
        {
            var groups = gpus.Where(g => id(g) != 0).GroupBy(id).OrderBy(g => g.Key).ToList();
            return groups.Count == 0 ? "none" : string.Join("; ", groups.Select(g => $"{g.Key}: GPUs {IndexList(g.Select(x => x.Index))}"));
        }
    }

    /// <summary>"0-3,6": indices with runs shortened to ranges.</summary>
    public static string IndexList(IEnumerable<int> indices)
    {
        var sorted = indices.Order().ToList();
        var parts = new List<string>();
        for (var i = 0; i < sorted.Count;)
        {
            var j = i;
            while (j + 1 < sorted.Count && sorted[j + 1] == sorted[j] + 1)
            {
                j++;
            }

            parts.Add(j == i ? Index(sorted[i]) : $"{Index(sorted[i])}-{Index(sorted[j])}");
            i = j + 1;
        }

        return string.Join(',', parts);
    }

    private static string Index(int i) => i.ToString(CultureInfo.InvariantCulture);

    public void Status(ClusterStatus status)
    {
        if (IsJson)
        {
            Message(status);
            return;
        }

        Line($"Leader:   {status.Leader?.MasterId} at {status.Leader?.Address} (epoch {status.Leader?.Epoch}, store {status.Leader?.Store})");
        Line($"Nodes:    {status.NodesReady}/{status.NodesTotal} ready");
        Line($"CPU:      {status.Allocated.CpuMillis}m / {status.Capacity.CpuMillis}m allocated");
        Line($"Memory:   {status.Allocated.MemoryMib} / {status.Capacity.MemoryMib} MiB allocated");
        Line($"GPUs:     {status.GpuAllocationPercent.ToString("F1", CultureInfo.InvariantCulture)}% of {status.GpusTotal} allocated");
        Line($"Jobs:     {string.Join("  ", status.JobsByState.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"))}");
        Line($"Scaling:  {(status.Scaling.Count == 0 ? "no change advised" : string.Join("; ", status.Scaling.Select(Scaling)))}");
    }

    /// <summary>One autoscaling advice: "+2 A100 hosts (7 pending jobs do not fit ...)".</summary>
    public static string Scaling(ScalingAdvice advice) =>
        advice.GpuModel.Length == 0
            ? advice.Reason
            : $"{advice.HostsDelta.ToString("+#;-#;0", CultureInfo.InvariantCulture)} {advice.GpuModel} host{(Math.Abs(advice.HostsDelta) == 1 ? "" : "s")} ({advice.Reason})";

    public static string StateName(JobState state) => state.ToString().ToUpperInvariant();

    public static string Describe(Resources? r)
    {
        if (r is null)
        {
            return "";
        }

        var parts = new List<string> { $"{r.CpuMillis}m CPU", $"{r.MemoryMib} MiB" };
        if (r.Gpus > 0)
        {
            parts.Add($"{r.Gpus} GPU");
        }

        if (r.GpuMilli > 0)
        {
            parts.Add($"{r.GpuMilli / 1000.0:0.###} GPU");
        }

        return string.Join(", ", parts);
    }

    private string Cut(string text) =>
        IsWide || text.Length <= MaxCell ? text : string.Concat(text.AsSpan(0, MaxCell - 3), "...");

    private static Table NewTable(params string?[] headers)
    {
        var table = new Table().Border(TableBorder.Simple);
        foreach (var header in headers.OfType<string>())
        {
            table.AddColumn(new TableColumn(header).NoWrap());
        }

        return table;
    }

    private static void AddRow(Table table, params string?[] cells) =>
        table.AddRow(cells.OfType<string>().Select(c => (IRenderable)new Text(c)).ToArray());
}
