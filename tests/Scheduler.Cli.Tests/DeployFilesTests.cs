using System.Reflection;
using System.Runtime.Loader;
using Scheduler.Cli.Local;
using Scheduler.Tests.Common;
using YamlDotNet.RepresentationModel;

namespace Scheduler.Cli.Tests;

/// <summary>
/// Keeps deploy/ honest: every flag its units, example configuration and compose file give the master,
/// the worker or etcd is one that program accepts, every setting named there exists, and the YAML parses.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class DeployFilesTests
{
    /// <summary>No program knows it: rejected by name only after every flag before it was accepted.</summary>
    private const string Sentinel = "--deploy-check-sentinel";

    private static IEnumerable<DeployInvocation> Invocations() =>
        DeployFiles.Units().Select(DeployFiles.UnitInvocation).Concat(DeployFiles.ComposeInvocations());

    private static IEnumerable<TestCaseData> HostInvocations() =>
        Invocations()
            .Where(i => i.Program is DeployFiles.Master or DeployFiles.Worker)
            .Append(new DeployInvocation(
                DeployFiles.WorkerEnvironmentFile,
                DeployFiles.Worker,
                DeployFiles.EnvironmentFile(DeployFiles.Path(DeployFiles.WorkerEnvironmentFile))["WORKER_FLAGS"].Split(' ', StringSplitOptions.RemoveEmptyEntries)))
            .Select(i => new TestCaseData(i).SetArgDisplayNames(i.Source));

    [TestCaseSource(nameof(HostInvocations))]
    public async Task Every_flag_a_deploy_file_gives_the_master_or_worker_is_one_it_accepts(DeployInvocation invocation)
    {
        // The hosts check every flag before they start anything, and stop at the first they do not know.
        var dll = invocation.Program == DeployFiles.Master ? Artifacts.MasterDll : Artifacts.WorkerDll;
        var cwd = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"deploy-{Guid.NewGuid():N}");
        Directory.CreateDirectory(cwd);
        try
        {
            var result = await DotnetCommand.RunAsync(dll, [.. invocation.Args, Sentinel, "x"], cwd);

            Assert.That(result.Err.Trim(), Does.StartWith($"error: unknown option '{Sentinel}'"), $"{invocation.Source}: {string.Join(' ', invocation.Args)}");
            Assert.That(DeployFiles.FlagNames(invocation.Args), Is.Not.Empty);
        }
        finally
        {
            Directory.Delete(cwd, recursive: true);
        }
    }

    [Test]
    public void Every_setting_named_in_deploy_files_is_one_the_options_have()
    {
        var settings = DeployFiles.Units().SelectMany(DeployFiles.UnitSettings)
            .Concat(DeployFiles.EnvironmentFileSettings(DeployFiles.Path(DeployFiles.WorkerEnvironmentFile)))
            .Concat(DeployFiles.ComposeSettings())
            .Concat(Invocations().SelectMany(DeployFiles.ArgumentSettings))
            .ToList();
        var known = new Dictionary<string, HashSet<string>>
        {
            ["Master"] = OptionNames(Artifacts.MasterDll, "Scheduler.Master.MasterOptions"),
            ["Worker"] = OptionNames(Artifacts.WorkerDll, "Scheduler.Worker.WorkerOptions"),
        };

        var unknown = settings.Where(s => !known[s.Section].Contains(s.Name)).Select(s => $"{s.Source}: {s.Section}:{s.Name}");

        Assert.That(settings, Is.Not.Empty);
        Assert.That(unknown, Is.Empty);
    }

    [Test]
    public async Task Every_flag_and_config_key_deploy_files_give_etcd_is_one_it_accepts()
    {
        RequireEtcd.OrIgnore();
        var help = await DotnetCommand.RunAsync(EtcdBinary.Find()!, ["--help"]);
        var accepted = $"{help.Out}\n{help.Err}";
        var flags = Invocations().Where(i => i.Program == DeployFiles.Etcd)
            .SelectMany(i => DeployFiles.FlagNames(i.Args).Select(f => (i.Source, Flag: f)))
            .Concat(Directory.EnumerateFiles(Path.Combine(DeployFiles.Directory, "etcd"), "*.yml")
                .SelectMany(file => DeployFiles.LoadYaml(file).Children.Keys.Select(k => (Source: Path.GetFileName(file), Flag: $"--{k}"))))
            .ToList();

        var unknown = flags.Where(f => !accepted.Contains($"{f.Flag} ", StringComparison.Ordinal) && !accepted.Contains($"{f.Flag}\n", StringComparison.Ordinal))
            .Select(f => $"{f.Source}: {f.Flag}");

        Assert.That(flags, Has.Count.GreaterThan(20));
        Assert.That(unknown, Is.Empty);
    }

    [Test]
    public async Task Systemd_knows_every_setting_of_the_units()
    {
        const string Analyze = "/usr/bin/systemd-analyze";
        if (!File.Exists(Analyze))
        {
            Assert.Ignore($"{Analyze} is not installed (Debian package systemd)");
        }

        var problems = new List<string>();
        foreach (var unit in DeployFiles.Units())
        {
            // verify reads the unit where it lies and needs nothing installed; it names unknown keys.
            var result = await DotnetCommand.RunAsync(Analyze, ["verify", "--man=no", unit]);
            problems.AddRange($"{result.Out}\n{result.Err}".Split('\n')
                .Where(l => l.Contains("Unknown", StringComparison.Ordinal) || l.Contains("Failed to parse", StringComparison.Ordinal) || l.Contains("Invalid", StringComparison.Ordinal)));
        }

        Assert.That(problems, Is.Empty);
    }

    [Test]
    public void Compose_file_runs_three_etcd_members_and_three_masters_on_them()
    {
        var invocations = DeployFiles.ComposeInvocations().ToList();
        var masters = invocations.Where(i => i.Program == DeployFiles.Master).ToList();
        var etcdMembers = invocations.Where(i => i.Program == DeployFiles.Etcd).Select(i => Value(i, "--name")).ToList();

        Assert.That((masters.Count, etcdMembers.Count), Is.EqualTo((3, 3)));
        Assert.That(masters.Select(m => Value(m, "--master-id")), Is.Unique);
        Assert.That(
            masters.Select(m => Value(m, "--etcd")),
            Is.All.EqualTo(string.Join(',', etcdMembers.Select(e => $"http://{e}:2379"))),
            "every master is given every member");
        Assert.That(DeployFiles.LoadYaml(DeployFiles.Path("compose.yaml"))["volumes"], Is.InstanceOf<YamlMappingNode>());
    }

    private static string Value(DeployInvocation invocation, string flag)
    {
        var args = invocation.Args;
        for (var i = 0; i < args.Count; i++)
        {
            if (args[i].StartsWith(flag + "=", StringComparison.Ordinal))
            {
                return args[i][(flag.Length + 1)..];
            }

            if (args[i] == flag && i + 1 < args.Count)
            {
                return args[i + 1];
            }
        }

        throw new AssertionException($"{invocation.Source} gives no {flag}");
    }

    /// <summary>The settable properties of a host's options class, read from the built assembly.</summary>
    private static HashSet<string> OptionNames(string dll, string typeName)
    {
        var context = new HostAssemblyContext(dll);
        try
        {
            var type = context.LoadFromAssemblyPath(dll).GetType(typeName, throwOnError: true)!;
            return type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
                .Where(p => p.CanWrite)
                .Select(p => p.Name)
                .ToHashSet(StringComparer.OrdinalIgnoreCase);
        }
        finally
        {
            context.Unload();
        }
    }

    /// <summary>Loads a host's assembly with its own dependencies, apart from the test's.</summary>
    private sealed class HostAssemblyContext(string dll) : AssemblyLoadContext(isCollectible: true)
    {
        private readonly AssemblyDependencyResolver _resolver = new(dll);

        protected override Assembly? Load(AssemblyName assemblyName) =>
            _resolver.ResolveAssemblyToPath(assemblyName) is { } path ? LoadFromAssemblyPath(path) : null;
    }
}
