using System.CommandLine;
using Scheduler.Cli.Commands;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Tests;

[TestFixture]
public sealed class ParsingTests
{
    [TestCase("2", 2000)]
    [TestCase("0.5", 500)]
    [TestCase("500m", 500)]
    [TestCase("1.25", 1250)]
    public void Cpu_quantities_parse_to_millicores(string text, long millis) =>
        Assert.That(Quantities.CpuMillis(text, "--cpu"), Is.EqualTo(millis));

    [TestCase("4Gi", 4096)]
    [TestCase("512Mi", 512)]
    [TestCase("1024", 1024)]
    [TestCase("1G", 954)]
    [TestCase("1.5Gi", 1536)]
    public void Memory_quantities_parse_to_mib(string text, long mib) =>
        Assert.That(Quantities.MemoryMib(text, "--memory"), Is.EqualTo(mib));

    [TestCase("two")]
    [TestCase("-1")]
    [TestCase("5x")]
    public void Bad_quantities_name_the_flag(string text)
    {
        Assert.That(() => Quantities.CpuMillis(text, "--cpu"), Throws.TypeOf<FormatException>().With.Message.StartsWith("--cpu: "));
        Assert.That(() => Quantities.MemoryMib(text, "--memory"), Throws.TypeOf<FormatException>().With.Message.StartsWith("--memory: "));
    }

    [TestCase("10Pi", "Pi")]
    [TestCase("4GB", "GB")]
    [TestCase("2gi", "gi")]
    public void Memory_with_an_unsupported_unit_names_the_supported_units(string text, string unit) =>
        Assert.That(
            () => Quantities.MemoryMib(text, "--memory"),
            Throws.TypeOf<FormatException>().With.Message.EqualTo($"--memory: '{text}' has unit '{unit}', which is not supported: use Ki, Mi, Gi, Ti (powers of 1024), M, G, T (powers of 1000), or a plain number of MiB"));

    [TestCase("name: x\ncommand: /bin/true\nargs: /bin/true\n", "job.yaml:3: args: expected a list such as [a, b], got '/bin/true'")]
    [TestCase("name: x\nresources:\n  cpu: 1\n  gpus: two\n", "job.yaml:4: resources.gpus: expected a whole number, got 'two'")]
    [TestCase("name: x\nenv: [a, b]\n", "job.yaml:2: env: expected a mapping such as {KEY: value}, got a list")]
    [TestCase("command: /bin/true\npriority: high\n", "job.yaml:2: priority: expected a whole number, got 'high'")]
    [TestCase("command: /bin/true\ncheckpointable: maybe\n", "job.yaml:2: checkpointable: expected true or false, got 'maybe'")]
    [TestCase("command: /bin/true\n\nresources:\n  memory: 3Pi\n", "job.yaml:4: resources.memory: '3Pi' has unit 'Pi', which is not supported: use Ki, Mi, Gi, Ti (powers of 1024), M, G, T (powers of 1000), or a plain number of MiB")]
    [TestCase("name: x\nname: y\n", "job.yaml:2: Duplicate key name")]
    [TestCase("- a\n- b\n", "job.yaml:1: the job file must be a mapping of field: value, got a list")]
    public void Job_file_errors_give_the_line_and_what_was_expected_in_the_files_terms(string yaml, string message) =>
        Assert.That(() => JobFile.Parse(yaml, "job.yaml"), Throws.TypeOf<FormatException>().With.Message.EqualTo(message));

    [Test]
    public void Job_file_leaves_empty_fields_unset()
    {
        var spec = JobFile.Parse("command: /bin/true\nname:\nmaxRetries: ~\nresources:\n", "job.yaml");

        Assert.That((spec.Command, spec.Name, spec.HasMaxRetries), Is.EqualTo(("/bin/true", "", false)));
    }

    [Test]
    public void Job_file_maps_every_field()
    {
        const string yaml = """
            name: train
            command: python
            args: ["train.py", "--epochs", "3"]
            env: {HF_HOME: /cache}
            workingDir: /srv
            resources: {cpu: 1500m, memory: 8Gi, gpus: 2}
            priority: 300
            gpuModels: [H100, A100]
            nodeSelector: {zone: a}
            maxRetries: 0
            tenant: research
            runtimeEstimateSeconds: 3600
            affinityKeys: [llama-70b]
            replicas: 2
            checkpointable: true
            checkpointIntervalSeconds: 60
            """;

        var spec = JobFile.Parse(yaml, "job.yaml");

        Assert.That(spec.Name, Is.EqualTo("train"));
        Assert.That(spec.Command, Is.EqualTo("python"));
        Assert.That(spec.Args, Is.EqualTo(new[] { "train.py", "--epochs", "3" }));
        Assert.That(spec.Env["HF_HOME"], Is.EqualTo("/cache"));
        Assert.That(spec.WorkingDir, Is.EqualTo("/srv"));
        Assert.That(spec.Resources, Is.EqualTo(new Resources { CpuMillis = 1500, MemoryMib = 8192, Gpus = 2 }));
        Assert.That(spec.Priority, Is.EqualTo(300));
        Assert.That(spec.GpuModels, Is.EqualTo(new[] { "H100", "A100" }));
        Assert.That(spec.NodeSelector["zone"], Is.EqualTo("a"));
        Assert.That(spec.HasMaxRetries && spec.MaxRetries == 0, Is.True, "an explicit 0 must survive");
        Assert.That(spec.Tenant, Is.EqualTo("research"));
        Assert.That(spec.RuntimeEstimateS, Is.EqualTo(3600));
        Assert.That(spec.AffinityKeys, Is.EqualTo(new[] { "llama-70b" }));
        Assert.That(spec.Replicas, Is.EqualTo(2));
        Assert.That(spec.Checkpointable, Is.True);
        Assert.That(spec.CheckpointIntervalS, Is.EqualTo(60));
    }

    [Test]
    public void Job_file_with_an_unknown_field_is_rejected_with_its_line()
    {
        Assert.That(
            () => JobFile.Parse("name: x\ncomand: /bin/true\n", "job.yaml"),
            Throws.TypeOf<FormatException>().With.Message.Contains("job.yaml:2").And.Message.Contains("comand"));
    }

    [Test]
    public void Flags_override_the_job_file_and_the_command_follows_the_double_dash()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "name: from-file\ncommand: /bin/false\nresources: {cpu: 1, memory: 1Gi}\npriority: 10\n");
            var root = new RootCommand { SubmitCommand.Create() };

            var parse = root.Parse(["submit", "-f", file, "--priority", "500", "--gpu-milli", "250", "--env", "A=b=c", "--selector", "zone=a", "--", "/bin/echo", "hi", "--not-a-flag"]);
            var spec = SubmitCommand.BuildSpec(parse);

            Assert.That(parse.Errors, Is.Empty);
            Assert.That(spec.Name, Is.EqualTo("from-file"));
            Assert.That(spec.Command, Is.EqualTo("/bin/echo"));
            Assert.That(spec.Args, Is.EqualTo(new[] { "hi", "--not-a-flag" }));
            Assert.That(spec.Priority, Is.EqualTo(500));
            Assert.That(spec.Resources, Is.EqualTo(new Resources { CpuMillis = 1000, MemoryMib = 1024, GpuMilli = 250 }));
            Assert.That(spec.Env["A"], Is.EqualTo("b=c"));
            Assert.That(spec.NodeSelector["zone"], Is.EqualTo("a"));
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Test]
    public void Checkpoint_interval_flag_sets_the_spec()
    {
        var parse = new RootCommand { SubmitCommand.Create() }.Parse(["submit", "--checkpointable", "--checkpoint-interval", "30", "--", "/bin/true"]);

        Assert.That(parse.Errors, Is.Empty);
        Assert.That(SubmitCommand.BuildSpec(parse).CheckpointIntervalS, Is.EqualTo(30));
    }

    [TestCase(new[] { "submit", "--checkpointable", "--", "/bin/true" }, true)]
    [TestCase(new[] { "submit", "--", "/bin/true" }, false)]
    public void Checkpointable_is_set_by_its_flag_only(string[] args, bool expected)
    {
        var root = new RootCommand { SubmitCommand.Create() };

        var parse = root.Parse(args);

        Assert.That(parse.Errors, Is.Empty);
        Assert.That(SubmitCommand.BuildSpec(parse).Checkpointable, Is.EqualTo(expected));
    }
}
