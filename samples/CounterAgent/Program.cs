using System.Globalization;
using System.Text;
using Samples;

// Usage: CounterAgent [interval-ms (100)] [target (0: count forever)]
// Counts up every interval-ms; with COUNTER_LEDGER set, appends each value to that file, so a test
// can see the count never runs in two places and resumes where the checkpoint left it.
var intervalMs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100;
var target = args.Length > 1 ? long.Parse(args[1], CultureInfo.InvariantCulture) : 0;
var ledger = Environment.GetEnvironmentVariable("COUNTER_LEDGER") is { Length: > 0 } path ? path : null;

var gate = new Lock();
long counter = 0;
var frozen = false;

if (AgentCheckpoint.RestoreDir is { } restore)
{
    AgentCheckpoint.EnsureComplete(restore);
    counter = long.Parse(File.ReadAllText(Path.Combine(restore, "counter")).Trim(), CultureInfo.InvariantCulture);
    Console.WriteLine($"restored counter {counter} from {restore}");
}

using var checkpoints = AgentCheckpoint.Listen(request =>
{
    // Under the counter's lock: the stored value is one the ledger has already recorded, and after
    // a final checkpoint nothing changes any more.
    lock (gate)
    {
        AgentCheckpoint.WriteAtomically(Path.Combine(request.Directory, "counter"), Encoding.ASCII.GetBytes($"{counter}\n"));
        frozen |= request.Final;
        Console.WriteLine($"checkpoint {request.Sequence}{(request.Final ? " (final)" : "")}: counter {counter}");
    }
});

while (true)
{
    Thread.Sleep(intervalMs);
    lock (gate)
    {
        if (frozen)
        {
            continue;
        }

        if (target > 0 && counter >= target)
        {
            break;
        }

        counter++;
        if (ledger is not null)
        {
            File.AppendAllText(ledger, $"{counter}\n");
        }
    }
}

Console.WriteLine($"reached {target}");
