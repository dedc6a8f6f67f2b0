namespace Scheduler.Tests.Common;

/// <summary>
/// Headless Chromium for tests of the status page: loads a URL, lets its script run, and returns the
/// DOM. Without a chromium binary the test fails under CI (naming the Debian package) and is ignored
/// elsewhere, like the tests that need etcd.
/// </summary>
public static class Chromium
{
    private static readonly string[] Names = ["chromium", "chromium-browser"];

    /// <summary>The chromium executable on PATH, or null.</summary>
    public static string? Find() =>
        (Environment.GetEnvironmentVariable("PATH") ?? "")
            .Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .SelectMany(dir => Names.Select(name => Path.Combine(dir, name)))
            .FirstOrDefault(File.Exists);

    /// <summary>The chromium executable; without one, fails under CI=true and ignores the test otherwise.</summary>
    public static string RequireOrIgnore()
    {
        if (Find() is { } path)
        {
            return path;
        }

        const string Why = "chromium is not installed: install the Debian package chromium (./build.sh test installs it when run as root)";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(Why);
        }

        Assert.Ignore(Why);
        return "";
    }

    /// <summary>
    /// The DOM of <paramref name="url"/> after its scripts ran for up to five seconds of virtual time. Each call
    /// has its own profile folder under <paramref name="scratch"/> (no lock shared with another browser);
    /// the browser is killed with its whole process tree if it overstays.
    /// </summary>
    public static async Task<string> DumpDomAsync(string chromium, string url, string scratch)
    {
        var profile = Path.Combine(scratch, $"chromium-{Guid.NewGuid():N}");
        Directory.CreateDirectory(profile);
        try
        {
            var result = await DotnetCommand.RunAsync(
                chromium,
                [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                    $"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", url,
                ],
                timeout: TimeSpan.FromSeconds(60));
            Assert.That(result.ExitCode, Is.Zero, $"chromium exited with {result.ExitCode}:\n{result.Err}");
            return result.Out;
        }
        finally
        {
            try
            {
                Directory.Delete(profile, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
