using System.Text.Json;
using Scheduler.Cli.Local;

namespace Scheduler.Cli.Tests;

[TestFixture]
public sealed class ClusterManifestTests
{
    [Test]
    public void Cluster_json_lists_each_process_with_exactly_role_id_address_and_a_numeric_pid()
    {
        var json = ClusterManifest.Format(
        [
            new ClusterProcess("etcd", "etcd-1", "http://127.0.0.1:23790", 101),
            new ClusterProcess("master", "master-1", "http://127.0.0.1:7071", 102),
            new ClusterProcess("worker", "worker-a", "", 103),
        ]);

        var root = JsonDocument.Parse(json).RootElement;
        Assert.That(root.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "processes" }));
        var processes = root.GetProperty("processes").EnumerateArray().ToArray();
        Assert.That(processes, Has.Length.EqualTo(3));
        Assert.That(processes.Select(p => string.Join(',', p.EnumerateObject().Select(f => f.Name))), Is.All.EqualTo("role,id,address,pid"));
        Assert.That(processes[1].GetProperty("pid").ValueKind, Is.EqualTo(JsonValueKind.Number));
        Assert.That(processes[2].GetProperty("address").GetString(), Is.Empty);
    }

    [Test]
    public void Clients_find_every_master_of_a_cluster_json()
    {
        var dir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"manifest-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, ClusterManifest.FileName), ClusterManifest.Format(
            [
                new ClusterProcess("etcd", "etcd-1", "http://127.0.0.1:23790", 101),
                new ClusterProcess("master", "master-1", "http://127.0.0.1:7071", 102),
                new ClusterProcess("master", "master-2", "http://127.0.0.1:7072", 103),
                new ClusterProcess("worker", "worker-a", "", 104),
            ]));

            Assert.That(ClusterManifest.MasterAddresses(dir), Is.EqualTo("http://127.0.0.1:7071,http://127.0.0.1:7072"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
