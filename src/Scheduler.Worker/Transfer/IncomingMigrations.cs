using System.Collections.Concurrent;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Where incoming checkpoints live on this worker: a staging tree per migration under
/// <c>DATA_DIR/transfers/</c>, and the restored directories under <c>DATA_DIR/restore/</c>.
/// A staging folder outlives the process: the first use of a migration after a restart takes over
/// the verified chunks the previous process left there (see <see cref="MigrationStore"/>).
/// </summary>
internal sealed class IncomingMigrations : IDisposable
{
    // Lazy: a store takes over (and may re-hash) its folder once, however many calls race to create it.
    private readonly ConcurrentDictionary<string, Lazy<MigrationStore>> _stores = new(StringComparer.Ordinal);

    public IncomingMigrations(string dataDir, TransferLimits limits)
    {
        var root = Path.GetFullPath(dataDir);
        StoreRoot = Path.Combine(root, "transfers");
        RestoreRoot = Path.Combine(root, "restore");
        Limits = limits;
    }

    public string StoreRoot { get; }

    public string RestoreRoot { get; }

    public TransferLimits Limits { get; }

    /// <summary>The migration's store, created on first use; the id must already be authorised.</summary>
    public MigrationStore Get(string migrationId)
    {
        var store = _stores.GetOrAdd(migrationId, id => new Lazy<MigrationStore>(() => new MigrationStore(id, Path.Combine(StoreRoot, id))));
        try
        {
            return store.Value;
        }
        catch
        {
            // A Lazy keeps its exception: forget it, so that the next call tries the folder again.
            _stores.TryRemove(new KeyValuePair<string, Lazy<MigrationStore>>(migrationId, store));
            throw;
        }
    }

    public MigrationStore? Find(string migrationId) =>
        _stores.TryGetValue(migrationId, out var store) && store.IsValueCreated ? store.Value : null;

    /// <summary>Forgets a migration and deletes its staging tree (after its commit, or when it is abandoned).</summary>
    public void Remove(string migrationId)
    {
        if (_stores.TryRemove(migrationId, out var store))
        {
            store.Value.Delete();
        }
    }

    /// <summary>Closes every store's files and leaves their folders for the next process to take over.</summary>
    public void Dispose()
    {
        foreach (var store in _stores.Values.Where(s => s.IsValueCreated))
        {
            store.Value.Close();
        }
    }
}
