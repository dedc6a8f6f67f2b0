using Grpc.Core;
using Microsoft.Data.Sqlite;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// The master's data folder under abuse: a second master on it, a lost, emptied, truncated or
/// hand-damaged database, a full disk. Each is refused with one line that says what to do, or
/// answered with a status the client retries; nothing is half-stored and the epoch never goes back.
/// </summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class StoreFaultTests : PerTestCluster
{
    [Test]
    public async Task Second_master_on_a_locked_data_folder_is_refused()
    {
        var (cluster, api) = await StartAsync("locked");

        var second = await RunMasterAsync(cluster, "second");

        Assert.That(second.ExitCode, Is.EqualTo(3));
        Assert.That(second.Log, Does.Contain($"is in use by another master (pid {cluster.Master!.Pid})"));
        var job = await api.SubmitAsync(ClusterApi.Shell("exit 0"));
        Assert.That(job.Id, Is.Not.Empty, "the first master still serves");
    }

    [Test]
    public async Task Emptied_database_is_refused_and_a_forced_new_store_continues_above_the_last_epoch()
    {
        var (cluster, api) = await StartAsync("emptied");
        await api.SubmitAsync(ClusterApi.Shell("exit 0"));
        var epoch = (await api.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline())).Epoch;
        await cluster.Master!.KillAsync();
        var db = Path.Combine(cluster.MasterDataDir, "scheduler.db");
        await File.WriteAllBytesAsync(db, []);

        var refused = await RunMasterAsync(cluster, "refused");

        Assert.That(refused.ExitCode, Is.EqualTo(3));
        Assert.That(refused.Log, Does.Contain("is missing or empty, but this folder held cluster").And.Contain("--force-new-store"));
        Assert.That(refused.Log, Does.Not.Contain("   at "), "one line, no stack trace");

        await cluster.StartMasterAsync(["--force-new-store"]);
        var leader = await api.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline());
        Assert.That(leader.Epoch, Is.GreaterThan(epoch));
    }

    [Test]
    public async Task Master_that_lost_its_whole_folder_takes_an_epoch_above_what_workers_obeyed()
    {
        var (cluster, api) = await StartAsync("lost-folder");
        cluster.StartWorker("w1");
        await api.WaitForReadyNodesAsync("w1");
        await cluster.Master!.KillAsync();
        await cluster.StartMasterAsync();
        await api.WaitForReadyNodesAsync("w1");
        var obeyed = (await api.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline())).Epoch;
        await cluster.Master!.KillAsync();
        foreach (var file in Directory.EnumerateFiles(cluster.MasterDataDir))
        {
            File.Delete(file);
        }

        await cluster.StartMasterAsync();
        await api.WaitForReadyNodesAsync("w1");
        var job = await api.SubmitAsync(ClusterApi.Shell("echo ran"));

        var done = await api.WaitForStateAsync(job.Id, JobState.Succeeded);
        Assert.That(done.NodeId, Is.EqualTo("w1"), "the worker obeys the new master: its epoch is above the one the worker had seen");
        var leader = await api.Admin.GetLeaderAsync(new GetLeaderRequest(), deadline: ClusterApi.Deadline());
        Assert.That(leader.Epoch, Is.GreaterThan(obeyed));
    }

    [Test]
    public async Task Damaged_row_is_reported_by_its_job_id()
    {
        var (cluster, api) = await StartAsync("bad-row");
        await api.SubmitAsync(ClusterApi.Shell("exit 0"));
        var second = await api.SubmitAsync(ClusterApi.Shell("exit 0"));
        await cluster.Master!.StopAsync();
        await using (var connection = new SqliteConnection($"Data Source={Path.Combine(cluster.MasterDataDir, "scheduler.db")};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var update = connection.CreateCommand();
            update.CommandText = "UPDATE jobs SET status = '{\"state\": ' WHERE id = $id";
            update.Parameters.AddWithValue("$id", second.Id);
            Assert.That(await update.ExecuteNonQueryAsync(), Is.EqualTo(1));
        }

        var refused = await RunMasterAsync(cluster, "bad-row");

        Assert.That(refused.ExitCode, Is.EqualTo(3));
        Assert.That(refused.Log, Does.Contain($"job {second.Id} in scheduler.db cannot be read"));
    }

    [Test]
    public async Task Truncated_database_is_refused_with_what_to_do()
    {
        var (cluster, api) = await StartAsync("truncated");
        for (var i = 0; i < 50; i++)
        {
            await api.SubmitAsync(ClusterApi.Shell($"echo {new string('x', 2000)}"));
        }

        await cluster.Master!.StopAsync();
        var db = Path.Combine(cluster.MasterDataDir, "scheduler.db");
        Assert.That(File.Exists(db + "-wal"), Is.False, "a clean stop checkpoints the write-ahead log into the database");
        await using (var file = new FileStream(db, FileMode.Open))
        {
            file.SetLength(file.Length / 2);
        }

        var refused = await RunMasterAsync(cluster, "truncated");

        Assert.That(refused.ExitCode, Is.EqualTo(3));
        Assert.That(refused.Log, Does.Contain("scheduler.db").And.Contain("restore"));
        Assert.That(refused.Log, Does.Not.Contain("   at "));
    }

    [Test]
    public async Task Full_store_answers_unavailable_and_stores_nothing_of_the_refused_submit()
    {
        var (cluster, api) = await StartAsync("full", "--max-store-mib", "1");
        var accepted = 0;
        RpcException? refusal = null;
        for (var i = 0; i < 60 && refusal is null; i++)
        {
            var spec = ClusterApi.Shell("exit 0");
            for (var pad = 0; pad < 4; pad++)
            {
                spec.Env[$"PAD{pad}"] = new string('p', 30_000);
            }

            try
            {
                await api.SubmitAsync(spec);
                accepted++;
            }
            catch (RpcException ex)
            {
                refusal = ex;
            }
        }

        Assert.That(refusal, Is.Not.Null, "a 1 MiB store fills up");
        Assert.That(refusal!.StatusCode, Is.EqualTo(StatusCode.Unavailable));
        Assert.That(refusal.Status.Detail, Does.Contain("cannot write its store"));
        var jobs = await api.Jobs.ListAsync(new ListJobsRequest(), deadline: ClusterApi.Deadline());
        Assert.That(jobs.Jobs, Has.Count.EqualTo(accepted));
    }

    /// <summary>Runs a master on the cluster's folder that is expected to refuse: its exit code and output.</summary>
    private static async Task<(int ExitCode, string Log)> RunMasterAsync(TestCluster cluster, string name)
    {
        var log = Path.Combine(cluster.Root, $"{name}.log");
        await using var master = ManagedProcess.StartDotnet(
            name, Artifacts.MasterDll, ["--listen", "127.0.0.1:0", "--data-dir", cluster.MasterDataDir, "--insecure"], log);
        await Eventually.TrueAsync(() => master.HasExited, $"the {name} master to refuse and exit");
        return (master.ExitCode, master.ReadLog());
    }
}
