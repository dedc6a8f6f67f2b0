using System.Diagnostics;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Tests.Common.Fuzz;

namespace Scheduler.IntegrationTests.Fuzz;

/// <summary>
/// Hostile input to every public RPC of a real master (the Jobs and Admin services, enumerated from
/// their descriptors): random, mutated, truncated, oversized and garbage requests, seeded. Every
/// one must be answered with a status that is not UNKNOWN or INTERNAL, and afterwards the master is
/// healthy, takes a valid job, and holds only whole, valid records (read through the API, straight
/// from its database, and by a restarted master loading them).
/// </summary>
[TestFixture]
[CancelAfter(600_000)]
public sealed class MasterApiFuzzTests
{
    private const int MaxRequestBytes = 1024 * 1024;

    private static readonly StatusCode[] Forbidden = [StatusCode.Unknown, StatusCode.Internal];

    [Test]
    public async Task Every_public_rpc_answers_hostile_requests_with_a_proper_status_and_stores_nothing_half_written()
    {
        await using var cluster = await TestCluster.StartAsync("fuzz-api", masterArgs: ["--max-request-bytes", MaxRequestBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        using var api = new ClusterApi(cluster.MasterUrl);

        // A small node, so the nodes RPCs meet a real one and hardly any fuzzed job fits to run.
        cluster.StartWorker("fuzz-node", gpus: 1, cpuMillis: 500, memoryMib: 256);
        await api.WaitForReadyNodesAsync("fuzz-node");
        var known = new List<string> { "fuzz-node" };
        for (var i = 0; i < 20; i++)
        {
            known.Add((await api.SubmitAsync(ClusterApi.Shell("exit 0", cpuMillis: 64_000))).Id);
        }

        var methods = Jobs.Descriptor.Methods.Concat(Admin.Descriptor.Methods).ToArray();
        var seeds = Seeds(known[1]);
        var perRpc = FuzzSettings.RequestsPerRpc;
        var tally = new FuzzTally();
        var fuzzer = new WireFuzzer(known);
        var invoker = api.Channel.CreateCallInvoker();
        var raw = methods.ToDictionary(m => m, RawCalls.For);

        var clock = Stopwatch.StartNew();
        var next = -1;
        var total = perRpc * methods.Length;
        var runners = Enumerable.Range(0, FuzzSettings.Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                // Interleaved over the RPCs, each request from its own seeded generator.
                var method = methods[i % methods.Length];
                var random = new Random(unchecked((FuzzSettings.Seed * 1_000_003) + i));
                var payloads = new List<byte[]>();
                var count = method.IsClientStreaming ? random.Next(0, 4) : 1;
                for (var p = 0; p < count; p++)
                {
                    payloads.Add(fuzzer.Next(method.InputType, seeds.GetValueOrDefault(method.Name), random, MaxRequestBytes).Payload);
                }

                var rpc = $"{method.Service.Name}.{method.Name}";
                var status = await RawCalls.CallAsync(invoker, raw[method], payloads, TimeSpan.FromSeconds(60), _ => tally.ConnectionLost(rpc));
                tally.Add(rpc, status.StatusCode, status.Detail);
            }
        })).ToArray();
        await Task.WhenAll(runners);
        clock.Stop();

        await TestContext.Out.WriteLineAsync(
            $"fuzz: {tally.Total} requests ({perRpc} per RPC, {methods.Length} RPCs, seed {FuzzSettings.Seed}, {FuzzSettings.Concurrency} in flight) in {clock.Elapsed.TotalSeconds:F1} s\n{tally.Table()}\nexamples: {string.Join("\n  ", tally.Having(StatusCode.Unavailable, StatusCode.DeadlineExceeded, StatusCode.Cancelled, StatusCode.ResourceExhausted))}");
        Assert.Multiple(() =>
        {
            Assert.That(tally.Having(Forbidden), Is.Empty, "answers with UNKNOWN or INTERNAL");
            Assert.That(methods.Select(m => tally.CountOf($"{m.Service.Name}.{m.Name}")), Is.All.EqualTo(perRpc), "requests answered per RPC");
            Assert.That(cluster.Master!.HasExited, Is.False, "the master survived");
        });

        await AssertHealthyAndWholeAsync(cluster, api);
    }

    /// <summary>A valid request per RPC that takes one, for mutated requests to start from.</summary>
    private static Dictionary<string, byte[]> Seeds(string jobId)
    {
        var submit = new SubmitJobRequest { RequestId = "fuzz-seed", Spec = ClusterApi.Shell("exit 0", cpuMillis: 64_000) };
        return new Dictionary<string, byte[]>
        {
            ["Submit"] = submit.ToByteArray(),
            ["Get"] = new GetJobRequest { Id = jobId }.ToByteArray(),
            ["List"] = new ListJobsRequest { PageSize = 5 }.ToByteArray(),
            ["Cancel"] = new CancelJobRequest { Id = jobId }.ToByteArray(),
            ["Watch"] = new WatchJobsRequest { JobId = jobId }.ToByteArray(),
            ["GetLogs"] = new GetLogsRequest { JobId = jobId }.ToByteArray(),
            ["Suspend"] = new SuspendJobRequest { Id = jobId }.ToByteArray(),
            ["Resume"] = new ResumeJobRequest { Id = jobId }.ToByteArray(),
            ["DescribeNode"] = new DescribeNodeRequest { Id = "fuzz-node" }.ToByteArray(),
            ["CordonNode"] = new CordonNodeRequest { Id = "fuzz-node" }.ToByteArray(),
            ["UncordonNode"] = new UncordonNodeRequest { Id = "fuzz-node" }.ToByteArray(),
            ["DrainNode"] = new DrainNodeRequest { Id = "fuzz-node" }.ToByteArray(),
            ["MigrateJob"] = new MigrateJobRequest { JobId = jobId, TargetNode = "fuzz-node" }.ToByteArray(),
            ["ExplainJob"] = new ExplainJobRequest { JobId = jobId }.ToByteArray(),
        };
    }

    /// <summary>
    /// The master answers its health check, accepts and lists a valid job, and every job and node it
    /// holds is whole and valid: through the API, in its database, and after a restart that loads them.
    /// </summary>
    internal static async Task AssertHealthyAndWholeAsync(TestCluster cluster, ClusterApi api)
    {
        var health = new Grpc.Health.V1.Health.HealthClient(api.Channel);
        var reply = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest(), deadline: ClusterApi.Deadline());
        Assert.That(reply.Status, Is.EqualTo(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving));

        var valid = await api.SubmitAsync(ClusterApi.Shell("exit 0"));
        Assert.That((await api.Jobs.GetAsync(new GetJobRequest { Id = valid.Id }, deadline: ClusterApi.Deadline())).Spec.Command, Is.EqualTo("/bin/sh"));

        var jobs = await StoredRecords.ListAllJobsAsync(api);
        var nodes = (await api.Admin.ListNodesAsync(new ListNodesRequest(), deadline: ClusterApi.Deadline())).Nodes;
        Assert.That(jobs.SelectMany(StoredRecords.ProblemsOf).Concat(nodes.SelectMany(StoredRecords.ProblemsOf)), Is.Empty, "records the API lists");
        Assert.That(jobs.Select(j => j.Id), Is.Unique);

        await cluster.Master!.StopAsync();
        var (rows, nodeRows, problems) = StoredRecords.ReadDatabase(cluster.MasterDataDir);
        Assert.That(problems, Is.Empty, "rows in the database");
        Assert.That(rows, Is.EquivalentTo(jobs.Select(j => j.Id)), "the database holds the jobs listed, no more");
        Assert.That(nodeRows, Is.EqualTo(nodes.Count));

        await cluster.StartMasterAsync();
        using var again = new ClusterApi(cluster.MasterUrl);
        var reloaded = await Eventually.ReturnsAsync(
            async () =>
            {
                try
                {
                    return await StoredRecords.ListAllJobsAsync(again);
                }
                catch (RpcException ex) when (ex.StatusCode is StatusCode.FailedPrecondition or StatusCode.Unavailable)
                {
                    return null;
                }
            },
            "the restarted master to list its jobs");
        Assert.That(reloaded.Select(j => j.Id), Is.EquivalentTo(jobs.Select(j => j.Id)), "a restarted master loads every record");
    }
}
