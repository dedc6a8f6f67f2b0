using System.Globalization;
using Scheduler.Contracts.V1;

namespace Scheduler.Cli.Commands;

/// <summary>
/// Agents that judge "exactly once" from outside the scheduler: each appends to a ledger when it
/// starts and when it ends (wall clock in ns), and records an overlap when a process of an earlier
/// attempt of its job is still alive as it starts. Used by `demo --ha` and `bench failover`.
/// </summary>
internal static class LedgerAgent
{
    private const UnixFileMode Everyone =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    /// <summary>
    /// Creates the ledger folder <paramref name="directory"/> so that every agent can write to it. A worker
    /// running as root runs each agent as its own uid: the folder is world-writable and sticky (like /tmp),
    /// the two shared files are created here, by the folder's owner, writable by all (a file another uid
    /// created could not be appended to, and the kernel's protected_regular refuses opening one with
    /// O_CREAT in a sticky folder), and each attempt writes its pid to a file of its own.
    /// </summary>
    public static void CreateLedger(string directory)
    {
        Directory.CreateDirectory(directory);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        File.SetUnixFileMode(directory, Everyone | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute | UnixFileMode.StickyBit);
        foreach (var shared in new[] { "ledger", "overlaps" })
        {
            var file = Path.Combine(directory, shared);
            File.WriteAllText(file, "");
            File.SetUnixFileMode(file, Everyone);
        }
    }

    /// <summary>A shell agent of <paramref name="steps"/> × <paramref name="stepSeconds"/> that records itself in <paramref name="ledger"/> (made by <see cref="CreateLedger"/>).</summary>
    public static JobSpec Spec(string name, string ledger, long cpuMillis, int steps, double stepSeconds)
    {
        // An earlier attempt's process still alive is found through /proc: `kill -0` cannot tell
        // "gone" from "not mine to signal" when agents run as different uids.
        var script =
            $"L={ledger}; J=$SCHEDULER_JOB_ID; A=$SCHEDULER_ATTEMPT; " +
            "for p in $(cat $L/pids-$J-* 2>/dev/null); do [ -e /proc/$p ] && echo \"$J $A $p\" >> $L/overlaps; done; " +
            "echo $$ > $L/pids-$J-$A; " +
            "echo \"$J $A $SCHEDULER_NODE_ID $$ start $(date +%s%N)\" >> $L/ledger; " +
            $"for i in $(seq 1 {steps.ToString(CultureInfo.InvariantCulture)}); do echo step $i; sleep {stepSeconds.ToString(CultureInfo.InvariantCulture)}; done; " +
            "echo \"$J $A $SCHEDULER_NODE_ID $$ end $(date +%s%N)\" >> $L/ledger";
        var spec = new JobSpec
        {
            Name = name,
            Command = "/bin/sh",
            Resources = new Resources { CpuMillis = cpuMillis, MemoryMib = 256 },
        };
        spec.Args.Add(["-c", script]);
        return spec;
    }

    /// <summary>What the agents wrote: "JOB ATTEMPT NODE PID start|end NANOS" lines, and overlaps.</summary>
    internal sealed class Ledger
    {
        private readonly string[][] _lines;

        private Ledger(string[][] lines, IReadOnlyList<string> overlaps)
        {
            _lines = lines;
            Overlaps = overlaps;
        }

        public IReadOnlyList<string> Overlaps { get; }

        public static Ledger Read(string directory) =>
            new(
                Lines(Path.Combine(directory, "ledger")).Select(l => l.Split(' ')).Where(f => f.Length == 6).ToArray(),
                Lines(Path.Combine(directory, "overlaps")));

        public int Ends(string job) => _lines.Count(f => f[0] == job && f[4] == "end");

        public DateTimeOffset? FirstStartAfter(string job, DateTimeOffset after) =>
            _lines.Where(f => f[0] == job && f[4] == "start" && long.TryParse(f[5], CultureInfo.InvariantCulture, out _))
                .Select(f => DateTimeOffset.UnixEpoch.AddTicks(long.Parse(f[5], CultureInfo.InvariantCulture) / 100))
                .Where(t => t > after)
                .Order()
                .Cast<DateTimeOffset?>()
                .FirstOrDefault();

        private static string[] Lines(string file) =>
            File.Exists(file) ? File.ReadAllLines(file).Where(l => l.Length > 0).ToArray() : [];
    }
}
