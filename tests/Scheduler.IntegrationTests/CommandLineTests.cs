using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>The master's and worker's own flags: help and version print and exit, unknown flags are errors.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class CommandLineTests
{
    private string _cwd = null!;

    [SetUp]
    public void MakeWorkingDirectory()
    {
        _cwd = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"cli-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_cwd);
    }

    [TearDown]
    public void RemoveWorkingDirectory() => Directory.Delete(_cwd, recursive: true);

    [TestCase("master", "--listen")]
    [TestCase("worker", "--gpu-probe")]
    public async Task Help_prints_the_flags_and_exits_zero_without_starting_anything(string host, string flag)
    {
        var result = await RunAsync(host, "--help");

        Assert.That(result.ExitCode, Is.Zero, result.Err);
        Assert.That(result.Out, Does.Contain(flag).And.Contain("--version"));
        Assert.That(Directory.Exists(Path.Combine(_cwd, ".scheduler")), Is.False, "nothing was started, so no data folder was made");
    }

    [TestCase("master", "Scheduler.Master")]
    [TestCase("worker", "Scheduler.Worker")]
    public async Task Version_prints_one_line_and_exits_zero(string host, string name)
    {
        var result = await RunAsync(host, "--version");

        Assert.That(result.ExitCode, Is.Zero, result.Err);
        Assert.That(result.Out.TrimEnd(), Does.Match($"^{name} [0-9]+\\.[0-9]+\\.[0-9]+\\S*$"));
    }

    [TestCase("master", "--lisen")]
    [TestCase("worker", "--gpu-prob")]
    public async Task An_unknown_flag_is_one_error_line_and_exit_code_2(string host, string typo)
    {
        var result = await RunAsync(host, typo, "x");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Err.TrimEnd(), Does.StartWith($"error: unknown option '{typo}'").And.Not.Contain('\n'));
        Assert.That(Directory.Exists(Path.Combine(_cwd, ".scheduler")), Is.False);
    }

    [Test]
    public async Task A_flag_without_its_value_is_an_error()
    {
        var result = await RunAsync("master", "--data-dir");

        Assert.That((result.ExitCode, result.Err.TrimEnd()), Is.EqualTo((2, "error: --data-dir needs a value (see Scheduler.Master --help)")));
    }

    [Test]
    public async Task A_master_on_a_busy_port_says_so_in_one_line()
    {
        using var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        var port = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port;

        var result = await RunAsync("master", "--listen", $"127.0.0.1:{port}", "--data-dir", Path.Combine(_cwd, "m"), "--insecure");

        Assert.That(result.ExitCode, Is.EqualTo(2));
        Assert.That(result.Err.TrimEnd(), Does.StartWith($"error: cannot listen on 127.0.0.1:{port}: address already in use").And.Not.Contain('\n'));
    }

    private Task<CommandResult> RunAsync(string host, params string[] args) =>
        DotnetCommand.RunAsync(host == "master" ? Artifacts.MasterDll : Artifacts.WorkerDll, args, _cwd, TimeSpan.FromSeconds(60));
}
