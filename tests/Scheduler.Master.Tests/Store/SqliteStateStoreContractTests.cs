using Microsoft.Data.Sqlite;
using Scheduler.Master.Store;

namespace Scheduler.Master.Tests.Store;

/// <summary>The store contract on the embedded SQLite store, in a fresh temporary folder per test.</summary>
[TestFixture]
public sealed class SqliteStateStoreContractTests : StateStoreContractTests
{
    private string _dataDir = null!;

    [SetUp]
    public void CreateFolder()
    {
        _dataDir = Path.Combine(Path.GetTempPath(), "scheduler-master-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dataDir);
    }

    [TearDown]
    public void DeleteFolder() => Directory.Delete(_dataDir, recursive: true);

    private protected override async Task<IStateStore> OpenStoreAsync(CancellationToken cancellationToken) =>
        await SqliteStateStore.OpenAsync(_dataDir, forceNew: false, maxStoreMib: 0, cancellationToken);

    /// <summary>A new job reusing another's request id breaks the UNIQUE constraint after the rows before it were written.</summary>
    private protected override Task<Type> MakeBatchFailAsync(IStateStore store, List<JobRecord> batch)
    {
        batch.Add(StoreRecords.Pending(4) with { RequestId = batch[^1].RequestId });
        return Task.FromResult(typeof(SqliteException));
    }
}
