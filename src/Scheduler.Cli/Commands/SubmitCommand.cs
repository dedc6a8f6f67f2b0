using System.CommandLine;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl submit [-f job.yaml] [flags] -- command args...`; flags override the file.</summary>
internal static class SubmitCommand
{
    private static readonly Option<FileInfo?> File = new("--file", "-f") { Description = "YAML job file" };
    private static readonly Option<string?> Name = new("--name") { Description = "Job name" };
    private static readonly Option<string?> Cpu = new("--cpu") { Description = "CPU: 2, 0.5 or 500m" };
    private static readonly Option<string?> Memory = new("--memory") { Description = "Memory: 4Gi, 512Mi or MiB" };
    private static readonly Option<int?> Gpus = new("--gpus") { Description = "Whole GPUs" };
    private static readonly Option<int?> GpuMilli = new("--gpu-milli") { Description = "A share of one GPU, 1..999 milli-GPU" };
    private static readonly Option<int?> Priority = new("--priority") { Description = "1..1000, higher first (default 100)" };
    private static readonly Option<string[]> GpuModel = new("--gpu-model") { Description = "Allowed GPU model (repeatable)" };
    private static readonly Option<string[]> Selector = new("--selector") { Description = "Node label KEY=VALUE (repeatable)" };
    private static readonly Option<string[]> Env = new("--env", "-e") { Description = "Environment KEY=VALUE (repeatable)" };
    private static readonly Option<string?> WorkDir = new("--workdir") { Description = "Working directory on the worker" };
    private static readonly Option<int?> MaxRetries = new("--max-retries") { Description = "Requeues after a lost worker (default 3)" };
    private static readonly Option<string?> Tenant = new("--tenant") { Description = "Owner for fair share" };
    private static readonly Option<long?> RuntimeEstimate = new("--runtime-estimate") { Description = "Expected run time in seconds" };
    private static readonly Option<int?> Replicas = new("--replicas") { Description = "Gang size" };
    private static readonly Option<string?> Topology = new("--topology") { Description = "How the job's GPUs must be connected: nvlink, pcie-switch or numa (default: no requirement)" };
    private static readonly Option<string?> RequestId = new("--request-id") { Description = "Idempotency key: resubmitting with it never makes a second job" };
    private static readonly Option<bool> Checkpointable = new("--checkpointable") { Description = "The agent follows the checkpoint contract (README): it can be migrated live, not only restarted" };
    private static readonly Option<int?> CheckpointInterval = new("--checkpoint-interval") { Description = "With --checkpointable: checkpoint every this many seconds, replicated to another worker (a job whose worker dies resumes from it)" };
    private static readonly Option<bool> Wait = new("--wait") { Description = "Wait for the job to finish; exit 0 only if it succeeded" };
    private static readonly Argument<string[]> Command = new("command") { Description = "Command and arguments (after --)", Arity = ArgumentArity.ZeroOrMore };

    public static Command Create()
    {
        var command = new Command("submit", "Submit a job")
        {
            File, Name, Cpu, Memory, Gpus, GpuMilli, Priority, GpuModel, Selector, Env, WorkDir, MaxRetries, Tenant, RuntimeEstimate, Replicas, Topology, RequestId, Checkpointable, CheckpointInterval, Wait, Command,
        };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var spec = BuildSpec(parse);
            var response = await client.SubmitAsync(spec, parse.GetValue(RequestId), ct);
            if (printer.IsJson)
            {
                printer.Message(response.Job);
            }
            else
            {
                printer.Line(response.Created ? response.Job.Id : $"{response.Job.Id} (already submitted with this request id)");
            }

            return parse.GetValue(Wait) ? await JobsCommands.WaitAsync(client, printer, response.Job.Id, null, ct) : Cli.Ok;
        }));
        return command;
    }

    internal static JobSpec BuildSpec(ParseResult parse)
    {
        var spec = parse.GetValue(File) is { } file
            ? JobFile.Parse(System.IO.File.ReadAllText(file.FullName), file.Name)
            : new JobSpec { Resources = new Resources() };
        spec.Resources ??= new Resources();
        if (parse.GetValue(Command) is { Length: > 0 } words)
        {
            RequireCommandNotFlag(parse, words[0]);
            spec.Command = words[0];
            spec.Args.Clear();
            spec.Args.AddRange(words.Skip(1));
        }

        if (parse.GetValue(Name) is { } name)
        {
            spec.Name = name;
        }

        if (parse.GetValue(Cpu) is { } cpu)
        {
            spec.Resources.CpuMillis = Quantities.CpuMillis(cpu, "--cpu");
        }

        if (parse.GetValue(Memory) is { } memory)
        {
            spec.Resources.MemoryMib = Quantities.MemoryMib(memory, "--memory");
        }

        // A job file or flags without any CPU/memory get a small default rather than a rejection.
        if (spec.Resources.CpuMillis == 0 && spec.Resources.MemoryMib == 0)
        {
            spec.Resources.CpuMillis = 100;
            spec.Resources.MemoryMib = 128;
        }

        if (parse.GetValue(Gpus) is { } gpus)
        {
            spec.Resources.Gpus = gpus;
        }

        if (parse.GetValue(GpuMilli) is { } milli)
        {
            spec.Resources.GpuMilli = milli;
        }

        if (parse.GetValue(Priority) is { } priority)
        {
            spec.Priority = priority;
        }

        if (parse.GetValue(Checkpointable))
        {
            spec.Checkpointable = true;
        }

        if (parse.GetValue(CheckpointInterval) is { } interval)
        {
            spec.CheckpointIntervalS = interval;
        }

        spec.GpuModels.AddRange(parse.GetValue(GpuModel) ?? []);
        spec.NodeSelector.Add(Quantities.Pairs(parse.GetValue(Selector) ?? [], "--selector"));
        spec.Env.Add(Quantities.Pairs(parse.GetValue(Env) ?? [], "--env"));
        if (parse.GetValue(WorkDir) is { } workDir)
        {
            spec.WorkingDir = workDir;
        }

        if (parse.GetValue(MaxRetries) is { } retries)
        {
            spec.MaxRetries = retries;
        }

        if (parse.GetValue(Tenant) is { } tenant)
        {
            spec.Tenant = tenant;
        }

        if (parse.GetValue(RuntimeEstimate) is { } estimate)
        {
            spec.RuntimeEstimateS = estimate;
        }

        if (parse.GetValue(Replicas) is { } replicas)
        {
            spec.Replicas = replicas;
        }

        if (parse.GetValue(Topology) is { } topology)
        {
            spec.Topology = topology;
        }

        return spec;
    }

    /// <summary>
    /// A word that looks like a flag and comes before `--` is a flag schedctl does not know (`--gpu 1`), not
    /// the command to run: without this check the typo would be submitted as the job's executable.
    /// </summary>
    private static void RequireCommandNotFlag(ParseResult parse, string first)
    {
        if (!first.StartsWith('-'))
        {
            return;
        }

        var tokens = parse.Tokens;
        var at = tokens.Select((t, i) => (t, i)).First(x => x.t.Type == System.CommandLine.Parsing.TokenType.Argument && x.t.Value == first).i;
        if (!tokens.Take(at).Any(t => t.Type == System.CommandLine.Parsing.TokenType.DoubleDash))
        {
            throw new FormatException($"unknown option '{first}' (the command to run goes after --; see schedctl submit --help)");
        }
    }
}
