using System.Text.Json;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Scheduler.Cli.Tests;

/// <summary>One program started by a deploy/ file, with the arguments that file gives it.</summary>
public sealed record DeployInvocation(string Source, string Program, IReadOnlyList<string> Args);

/// <summary>A setting a deploy/ file gives by its configuration name (SCHEDULER_Worker__Name, --Master:Name=...).</summary>
internal sealed record DeploySetting(string Source, string Section, string Name);

/// <summary>
/// Reads what deploy/ hands the master, the worker and etcd: systemd units (ExecStart=, Environment=),
/// the example worker environment file, and compose.yaml with the Dockerfile's entry point.
/// </summary>
internal static partial class DeployFiles
{
    public const string Master = "master";
    public const string Worker = "worker";
    public const string Etcd = "etcd";

    /// <summary>The example worker configuration the worker unit reads as /etc/scheduler/worker.env.</summary>
    public const string WorkerEnvironmentFile = "worker-8gpu.env";

    public static string Directory { get; } = FindDeployDirectory();

    public static IEnumerable<string> Units() =>
        System.IO.Directory.EnumerateFiles(Directory, "*.service", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    public static string Path(string name) => System.IO.Path.Combine(Directory, name);

    /// <summary>The ExecStart= of a unit, with $VARIABLES from the example environment file put in.</summary>
    public static DeployInvocation UnitInvocation(string unit)
    {
        var exec = LogicalLines(File.ReadAllText(unit)).Single(l => l.StartsWith("ExecStart=", StringComparison.Ordinal));
        var environment = EnvironmentFile(Path(WorkerEnvironmentFile));
        var words = Words(exec["ExecStart=".Length..])
            .SelectMany(w => w.StartsWith('$') ? Words(environment.GetValueOrDefault(w.TrimStart('$').Trim('{', '}'), "")) : [w]);
        return Invocation(Name(unit), [.. words]);
    }

    /// <summary>Settings in a unit's Environment= lines.</summary>
    public static IEnumerable<DeploySetting> UnitSettings(string unit) =>
        LogicalLines(File.ReadAllText(unit))
            .Where(l => l.StartsWith("Environment=", StringComparison.Ordinal))
            .SelectMany(l => Words(l["Environment=".Length..]))
            .Select(assignment => Setting(Name(unit), assignment.Split('=', 2)[0]))
            .OfType<DeploySetting>();

    /// <summary>KEY=VALUE lines of a systemd environment file; a trailing backslash continues the line.</summary>
    public static Dictionary<string, string> EnvironmentFile(string path) =>
        LogicalLines(File.ReadAllText(path))
            .Where(l => l.Contains('=', StringComparison.Ordinal))
            .Select(l => l.Split('=', 2))
            .ToDictionary(kv => kv[0].Trim(), kv => kv[1].Trim().Trim('"'), StringComparer.Ordinal);

    public static IEnumerable<DeploySetting> EnvironmentFileSettings(string path) =>
        EnvironmentFile(path).Keys.Select(k => Setting(Name(path), k)).OfType<DeploySetting>();

    public static YamlMappingNode LoadYaml(string path)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(path);
        stream.Load(reader);
        return (YamlMappingNode)stream.Documents.Single().RootNode;
    }

    public static YamlMappingNode ComposeServices() => (YamlMappingNode)LoadYaml(Path("compose.yaml"))["services"];

    /// <summary>
    /// What each compose service runs: its command after its entry point, which for a service built
    /// from a Dockerfile in deploy/ is that file's ENTRYPOINT.
    /// </summary>
    public static IEnumerable<DeployInvocation> ComposeInvocations()
    {
        foreach (var (key, value) in ComposeServices())
        {
            var service = (YamlMappingNode)value;
            var name = $"compose.yaml:{key}";
            var command = Sequence(service, "command");
            var entrypoint = Sequence(service, "entrypoint");
            if (entrypoint.Count == 0 && service.Children.TryGetValue("build", out var build))
            {
                var dockerfile = ((YamlMappingNode)build)["dockerfile"].ToString();
                entrypoint = Entrypoint(System.IO.Path.Combine(Directory, "..", dockerfile));
            }

            yield return Invocation(name, [.. entrypoint, .. command]);
        }
    }

    public static IEnumerable<DeploySetting> ComposeSettings() =>
        from service in ComposeServices()
        where ((YamlMappingNode)service.Value).Children.ContainsKey("environment")
        from variable in (YamlMappingNode)((YamlMappingNode)service.Value)["environment"]
        let setting = Setting($"compose.yaml:{service.Key}", variable.Key.ToString())
        where setting is not null
        select setting;

    /// <summary>Settings given on a command line by name: --Master:Name=VALUE.</summary>
    public static IEnumerable<DeploySetting> ArgumentSettings(DeployInvocation invocation) =>
        invocation.Args
            .Select(a => SettingArgument().Match(a))
            .Where(m => m.Success)
            .Select(m => new DeploySetting(invocation.Source, m.Groups[1].Value, m.Groups[2].Value));

    /// <summary>The flag names (--name) among the arguments, without their values.</summary>
    public static IEnumerable<string> FlagNames(IEnumerable<string> args) =>
        args.Where(a => a.StartsWith("--", StringComparison.Ordinal)).Select(a => a.Split('=', 2)[0]);

    private static DeployInvocation Invocation(string source, string[] words)
    {
        for (var i = 0; i < words.Length; i++)
        {
            var program = words[i] switch
            {
                var w when w.EndsWith("Scheduler.Master.dll", StringComparison.Ordinal) => Master,
                var w when w.EndsWith("Scheduler.Worker.dll", StringComparison.Ordinal) => Worker,
                var w when System.IO.Path.GetFileName(w) == "etcd" => Etcd,
                _ => null,
            };
            if (program is not null)
            {
                return new DeployInvocation(source, program, words[(i + 1)..]);
            }
        }

        throw new InvalidOperationException($"{source}: runs neither the master, the worker nor etcd: {string.Join(' ', words)}");
    }

    private static DeploySetting? Setting(string source, string variable) =>
        EnvironmentSetting().Match(variable) is { Success: true } m ? new DeploySetting(source, m.Groups[1].Value, m.Groups[2].Value) : null;

    private static List<string> Sequence(YamlMappingNode service, string key) =>
        service.Children.TryGetValue(key, out var node) && node is YamlSequenceNode sequence
            ? [.. sequence.Select(n => n.ToString())]
            : node is YamlScalarNode scalar ? [.. Words(scalar.Value ?? "")] : [];

    private static List<string> Entrypoint(string dockerfile)
    {
        var line = File.ReadLines(dockerfile).Last(l => l.StartsWith("ENTRYPOINT ", StringComparison.Ordinal));
        return JsonSerializer.Deserialize<List<string>>(line["ENTRYPOINT ".Length..]) ?? [];
    }

    /// <summary>Lines with comments dropped and backslash continuations joined, as systemd reads them.</summary>
    private static IEnumerable<string> LogicalLines(string text)
    {
        var pending = "";
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd();
            if (pending.Length == 0 && (line.TrimStart().StartsWith('#') || line.TrimStart().StartsWith(';')))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            var whole = (pending + line).Trim();
            pending = "";
            if (whole.Length > 0)
            {
                yield return whole;
            }
        }
    }

    private static string[] Words(string text) => text.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);

    private static string Name(string path) => System.IO.Path.GetRelativePath(System.IO.Path.Combine(Directory, ".."), path);

    private static string FindDeployDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(System.IO.Path.Combine(dir.FullName, "Scheduler.sln")))
            {
                return System.IO.Path.Combine(dir.FullName, "deploy");
            }
        }

        throw new DirectoryNotFoundException($"no Scheduler.sln above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex("^SCHEDULER_(Master|Worker)__([A-Za-z0-9]+)")]
    private static partial Regex EnvironmentSetting();

    [GeneratedRegex("^--(Master|Worker):([A-Za-z0-9]+)")]
    private static partial Regex SettingArgument();
}
