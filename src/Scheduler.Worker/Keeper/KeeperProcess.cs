using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Scheduler.Worker.Keeper;

/// <summary>
/// The keeper: a small process beside the worker (the worker binary run as <c>keeper</c>) that kills
/// every process of the worker's agents when the worker dies (its stdin closes) or stops renewing a
/// lease (the worker is frozen, or cut off from the master for too long). It is what makes "a lost
/// worker never leaves a copy running" hold for a SIGKILLed or SIGSTOPped worker, whose own
/// watchdog cannot run. It ignores terminal and stop signals: only the end of its input ends it.
/// </summary>
internal static class KeeperProcess
{
    public const string Verb = "keeper";
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(50);

    public static int Run()
    {
        // Held for the process' life: the keeper ends only when its input does.
        var ignored = new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM, PosixSignal.SIGQUIT, PosixSignal.SIGHUP }
            .Select(s => PosixSignalRegistration.Create(s, c => c.Cancel = true))
            .ToArray();
        var state = new KeeperState();
        var gate = new Lock();
        var ended = new ManualResetEventSlim();
        var reader = new Thread(() =>
        {
            string? line;
            while ((line = Console.In.ReadLine()) is not null)
            {
                if (KeeperMessage.Parse(line) is { } message)
                {
                    lock (gate)
                    {
                        state.Apply(message);
                    }
                }
            }

            ended.Set();
        })
        { IsBackground = true, Name = "keeper-input" };
        reader.Start();

        while (!ended.Wait(Period))
        {
            IReadOnlyList<TrackedAgent> expired;
            lock (gate)
            {
                expired = state.TakeExpired(Stopwatch.GetTimestamp());
            }

            Kill(expired, "its worker stopped renewing the lease (frozen, or cut off from the master)");
        }

        IReadOnlyList<TrackedAgent> all;
        lock (gate)
        {
            all = state.TakeAll();
        }

        Kill(all, "its worker exited");
        GC.KeepAlive(ignored);
        return 0;
    }

    private static void Kill(IReadOnlyList<TrackedAgent> agents, string reason)
    {
        foreach (var agent in agents)
        {
            if (agent.Marker is { } marker)
            {
                // Written before the kill: the worker reads it when it sees the exit, so it reports
                // the agent as fenced (requeued) rather than as the job failing.
                try
                {
                    File.WriteAllText(marker, reason);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                }
            }

            agent.Tree.Kill(everywhere: true);
            Console.Error.WriteLine($"keeper: killed agent {agent.Id} (pid {agent.Tree.Pid}): {reason}");
        }
    }
}
