using System.Collections.Concurrent;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Where incoming checkpoints live on this worker: a staging tree per migration under
/// <c>DATA_DIR/transfers/</c>, and the restored directories under <c>DATA_DIR/restore/</c>.
/// </summary>
internal sealed class IncomingMigrations
{
    private readonly ConcurrentDictionary<string, MigrationStore> _stores = new(StringComparer.Ordinal);

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
    public MigrationStore Get(string migrationId) =>
        _stores.GetOrAdd(migrationId, id => new MigrationStore(id, Path.Combine(StoreRoot, id)));

    public MigrationStore? Find(string migrationId) => _stores.GetValueOrDefault(migrationId);

    /// <summary>Forgets a migration and deletes its staging tree (after its commit, or when it is abandoned).</summary>
    public void Remove(string migrationId)
    {
        if (_stores.TryRemove(migrationId, out var store))
        {
            store.Delete();
        }
    }
}
