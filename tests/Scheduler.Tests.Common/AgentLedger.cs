using System.Globalization;

namespace Scheduler.Tests.Common;

/// <summary>
/// Judges "ran twice" from outside the scheduler, as an operator's audit would: every attempt of
/// an agent appends start and end to a ledger and records its own PID and those of two children it
/// forks (one in its session, one that escapes it with setsid). A later attempt records any
/// process of an earlier attempt still running when it starts: an overlap.
/// </summary>
public sealed class AgentLedger(string root)
{
    private string LedgerFile => Path.Combine(root, "ledger");

    private string OverlapFile => Path.Combine(root, "overlaps");

    /// <summary>A forking agent whose work is <paramref name="work"/> (shell), then "end".</summary>
    public string Script(string work) =>
        $"R={root}; J=$SCHEDULER_JOB_ID; A=$SCHEDULER_ATTEMPT; " +
        "for f in $R/pids-$J-*; do [ -e \"$f\" ] || continue; for p in $(cat \"$f\"); do " +
        "s=$(cut -d')' -f2 /proc/$p/stat 2>/dev/null | cut -c2); " +
        "if [ -n \"$s\" ] && [ \"$s\" != Z ]; then echo \"$J $A $p\" >> $R/overlaps; fi; done; done; " +
        "echo \"$J $A $SCHEDULER_NODE_ID $$ start\" >> $R/ledger; echo $$ >> $R/pids-$J-$A; " +
        "sleep 600 & c1=$!; echo $c1 >> $R/pids-$J-$A; " +
        "setsid sleep 600 & c2=$!; echo $c2 >> $R/pids-$J-$A; " +
        $"{work}; " +
        "echo \"$J $A $SCHEDULER_NODE_ID $$ end\" >> $R/ledger; kill $c1 $c2";

    /// <summary>Attempts that ran to the end, per job.</summary>
    public IReadOnlyDictionary<string, int> Ends() =>
        Lines(LedgerFile).Select(l => l.Split(' ')).Where(f => f is [_, _, _, _, "end"])
            .GroupBy(f => f[0]).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Attempts that started, per job.</summary>
    public IReadOnlyDictionary<string, int> Starts() =>
        Lines(LedgerFile).Select(l => l.Split(' ')).Where(f => f is [_, _, _, _, "start"])
            .GroupBy(f => f[0]).ToDictionary(g => g.Key, g => g.Count());

    public IReadOnlyList<string> Overlaps() => Lines(OverlapFile);

    public IReadOnlyList<int> Pids(string jobId, int attempt) =>
        Lines(Path.Combine(root, $"pids-{jobId}-{attempt.ToString(CultureInfo.InvariantCulture)}")).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray();

    /// <summary>Every recorded process of every attempt still running.</summary>
    public IReadOnlyList<int> Survivors() =>
        Directory.EnumerateFiles(root, "pids-*").SelectMany(Lines).Select(l => int.Parse(l, CultureInfo.InvariantCulture)).Where(Posix.IsAlive).ToArray();

    private static IReadOnlyList<string> Lines(string file) =>
        File.Exists(file) ? File.ReadAllLines(file).Where(l => l.Length > 0).ToArray() : [];
}
