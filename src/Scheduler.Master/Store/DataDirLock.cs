namespace Scheduler.Master.Store;

/// <summary>
/// An exclusive lock on a master's data folder for the life of the process (flock on
/// <c>lock</c>, released by the kernel however the process ends), so a second master started on
/// the same folder is refused instead of running the same jobs a second time.
/// </summary>
internal sealed class DataDirLock : IDisposable
{
    private readonly FileStream _file;

    private DataDirLock(FileStream file) => _file = file;

    public static DataDirLock Acquire(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        var path = Path.Combine(dataDir, "lock");
        FileStream file;
        try
        {
            // FileShare.None takes an exclusive advisory lock (flock) on Unix.
            file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            var holder = ReadHolder(Path.Combine(dataDir, "master.pid"));
            throw new StoreException(
                $"data folder {Path.GetFullPath(dataDir)} is in use by another master{holder}; stop it first, or give this one another --data-dir");
        }

        // Beside the lock, not in it: a reader could not open the locked file to say who holds it.
        File.WriteAllText(Path.Combine(dataDir, "master.pid"), Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        return new DataDirLock(file);
    }

    public void Dispose() => _file.Dispose();

    private static string ReadHolder(string path)
    {
        try
        {
            var pid = File.Exists(path) ? File.ReadAllText(path).Trim() : "";
            return pid.Length > 0 ? $" (pid {pid})" : "";
        }
        catch (IOException)
        {
            return "";
        }
    }
}
