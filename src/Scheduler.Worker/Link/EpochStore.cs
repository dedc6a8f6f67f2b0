using System.Globalization;

namespace Scheduler.Worker.Link;

/// <summary>
/// The newest master epoch this worker has obeyed, kept on disk so that after a restart a
/// deposed master's late commands are still refused.
/// </summary>
internal sealed class EpochStore
{
    private readonly string _file;
    private readonly Lock _lock = new();
    private long _highest;

    public EpochStore(string dataDir)
    {
        _file = Path.Combine(dataDir, "epoch");
        if (File.Exists(_file) && long.TryParse(File.ReadAllText(_file).Trim(), CultureInfo.InvariantCulture, out var saved))
        {
            _highest = saved;
        }
    }

    public long Highest
    {
        get
        {
            lock (_lock)
            {
                return _highest;
            }
        }
    }

    /// <summary>False when <paramref name="epoch"/> is older than one already obeyed: the command must be ignored.</summary>
    public bool Accept(long epoch)
    {
        lock (_lock)
        {
            if (epoch < _highest)
            {
                return false;
            }

            if (epoch > _highest)
            {
                _highest = epoch;
                File.WriteAllText(_file + ".tmp", epoch.ToString(CultureInfo.InvariantCulture));
                File.Move(_file + ".tmp", _file, overwrite: true);
            }

            return true;
        }
    }
}
