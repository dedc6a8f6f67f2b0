using System.Net;
using System.Net.Sockets;
using Scheduler.Tests.Common;

namespace Scheduler.Cli.Tests;

/// <summary>schedctl's own errors, which need no cluster: one `error:` line on stderr and exit 2.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class SchedctlErrorTests
{
    [TestCase("jobs", "list", "--bogus")]
    [TestCase("jobs", "list", "--limit", "x")]
    [TestCase("jobs", "wait")]
    [TestCase("nodes", "-o", "yaml")]
    [TestCase("submit", "--gpu", "1", "--", "/bin/true")]
    public async Task A_command_line_that_does_not_parse_is_one_error_line_and_exit_code_2(params string[] args)
    {
        var result = await Schedctl.RunAsync("https://127.0.0.1:1", null, args);

        Assert.That(result.ExitCode, Is.EqualTo(2), "exit 1 means the job failed under --wait");
        Assert.That(result.Out, Is.Empty, "no help dump");
        Assert.That(result.Err.TrimEnd(), Does.StartWith("error: ").And.Not.Contain('\n').And.Not.Contain("System."));
    }

    [Test]
    public async Task A_mistyped_flag_before_the_command_is_not_submitted_as_the_command()
    {
        var result = await Schedctl.RunAsync("https://127.0.0.1:1", null, "submit", "--gpu", "1", "--", "/bin/true");

        Assert.That(result.Err.TrimEnd(), Does.StartWith("error: unknown option '--gpu'"));
    }

    [TestCase("--help", "Usage:")]
    [TestCase("--version", ".")]
    public async Task Help_and_version_print_and_exit_zero(string flag, string expected)
    {
        var result = await Schedctl.RunAsync(null, null, flag);

        Assert.That(result.ExitCode, Is.Zero, result.Err);
        Assert.That(result.Out, Does.Contain(expected));
    }

    [Test]
    public async Task The_built_schedctl_runs_as_an_executable_of_its_own()
    {
        var apphost = Path.Combine(Path.GetDirectoryName(Artifacts.SchedctlDll)!, "schedctl");

        var result = await DotnetCommand.RunAsync(apphost, ["--version"]);

        Assert.That(result.ExitCode, Is.Zero, result.Err);
        Assert.That(result.Out, Does.Match("^[0-9]+\\.[0-9]+"));
    }

    [Test]
    public async Task Up_on_a_busy_port_says_so_in_one_line_and_suggests_port_0()
    {
        using var busy = new TcpListener(IPAddress.Loopback, 0);
        busy.Start();
        var port = ((IPEndPoint)busy.LocalEndpoint).Port;
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"up-{Guid.NewGuid():N}");
        try
        {
            var result = await Schedctl.RunAsync(null, TimeSpan.FromSeconds(90), "up", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--workers", "0", "--dir", dir);

            Assert.That(result.ExitCode, Is.EqualTo(2), result.Out + result.Err);
            Assert.That(result.Err.TrimEnd(), Does.StartWith($"error: port {port} is already in use").And.Contain("--port 0").And.Not.Contain('\n'));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
