using System.CommandLine;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl snapshot save|restore FILE`: back up the leader's state, or load a backup into a fresh cluster.</summary>
internal static class SnapshotCommands
{
    private static readonly Argument<string> File = new("file") { Description = "Snapshot file (JSON)" };

    public static Command Create() => new("snapshot", "Back up the cluster state to a file, or restore it into a fresh cluster")
    {
        Save(),
        Restore(),
    };

    private static Command Save()
    {
        var command = new Command("save", "Write every job and node record and the epoch to FILE (written whole or not at all)") { File };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var path = Path.GetFullPath(parse.GetValue(File)!);
            var partial = $"{path}.partial-{Environment.ProcessId}";
            try
            {
                long bytes;
                await using (var stream = new FileStream(partial, FileMode.Create, FileAccess.ReadWrite))
                {
                    bytes = await client.SaveSnapshotAsync(stream, ct);
                }

                System.IO.File.Move(partial, path, overwrite: true);
                printer.Line($"saved {bytes} bytes to {path}");
                return Cli.Ok;
            }
            finally
            {
                System.IO.File.Delete(partial);
            }
        }));
        return command;
    }

    private static Command Restore()
    {
        var command = new Command("restore", "Load FILE into a fresh cluster (a master on an empty store, before its workers join)") { File };
        command.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            await using var stream = System.IO.File.OpenRead(parse.GetValue(File)!);
            var restored = await client.RestoreSnapshotAsync(stream, ct);
            if (printer.IsJson)
            {
                printer.Message(restored);
            }
            else
            {
                printer.Line($"restored {restored.Jobs} jobs, {restored.Nodes} nodes and {restored.Tokens} tokens; epoch raised to {restored.Epoch}; the master reloads them as a new term");
            }

            return Cli.Ok;
        }));
        return command;
    }
}
