using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Scheduler.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;
using Scheduler.Tests.Common.Fuzz;

namespace Scheduler.IntegrationTests.Fuzz;

/// <summary>
/// Fake workers on a real master's gateway stream send malformed and out-of-order messages: garbage
/// bytes, a first message that is not a registration, hostile registrations, a second registration,
/// heartbeats and reports with hostile fields for real and unknown jobs, registrations as the real worker's node
/// (which their node certificates do not name). Each stream must end with a
/// status other than UNKNOWN or INTERNAL, the master must stay up and whole, and a real worker
/// connected all along must keep its stream and run a job.
/// </summary>
[TestFixture]
[CancelAfter(600_000)]
public sealed class GatewayFuzzTests
{
    private static readonly StatusCode[] Forbidden = [StatusCode.Unknown, StatusCode.Internal];

    [Test]
    public async Task Malformed_and_out_of_order_worker_streams_get_a_proper_status_and_leave_other_workers_alone()
    {
        await using var cluster = await TestCluster.StartAsync("fuzz-gateway");
        using var api = new ClusterApi(cluster.MasterUrl);
        var steady = cluster.StartWorker("steady-node", gpus: 1, cpuMillis: 2000, memoryMib: 1024, labels: "role=steady");
        await api.WaitForReadyNodesAsync("steady-node");
        var known = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            known.Add((await api.SubmitAsync(ClusterApi.Shell("exit 0", cpuMillis: 64_000))).Id);
        }

        var method = WorkerGateway.Descriptor.Methods.Single(m => m.Name == "Connect");
        var raw = RawCalls.For(method);
        // The fake workers are nodes of the cluster CA (node:fuzz-gw-*, so any node id fuzz-gw-N), as a compromised
        // host would be: the gateway refuses anyone else before reading a message (client:tests would only ever
        // meet UNAUTHENTICATED), and these get through to its validators and the master loop.
        using var nodes = TestCertificates.Channel(cluster.MasterUrl, ClusterRole.Node, "fuzz-gw-*");
        var invoker = nodes.CreateCallInvoker();
        var fuzzer = new WireFuzzer(known);
        var streams = FuzzSettings.RequestsPerRpc;
        var tally = new FuzzTally();
        var messages = 0;

        var clock = Stopwatch.StartNew();
        var next = -1;
        var runners = Enumerable.Range(0, FuzzSettings.Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < streams)
            {
                var random = new Random(unchecked((FuzzSettings.Seed * 1_000_003) + i));
                var (kind, payloads) = Script(random, i, fuzzer, known, method.InputType);
                Interlocked.Add(ref messages, payloads.Count);
                var status = await RawCalls.CallAsync(invoker, raw, payloads, TimeSpan.FromSeconds(60), _ => tally.ConnectionLost($"Connect.{kind}"));
                tally.Add($"Connect.{kind}", status.StatusCode, status.Detail);
            }
        })).ToArray();
        await Task.WhenAll(runners);
        clock.Stop();

        await TestContext.Out.WriteLineAsync(
            $"gateway fuzz: {streams} streams, {messages} messages (seed {FuzzSettings.Seed}, {FuzzSettings.Concurrency} in flight) in {clock.Elapsed.TotalSeconds:F1} s\n{tally.Table()}\nexamples: {string.Join("\n  ", tally.Having(StatusCode.Unavailable, StatusCode.DeadlineExceeded, StatusCode.Cancelled, StatusCode.ResourceExhausted))}");
        Assert.Multiple(() =>
        {
            Assert.That(tally.Having(Forbidden), Is.Empty, "streams ended with UNKNOWN or INTERNAL");
            Assert.That(tally.Total, Is.EqualTo(streams));
            Assert.That(tally.Having(StatusCode.Unauthenticated), Is.Empty, "streams refused as not a node's: the fuzz did not reach the gateway");
            // Refused at registration; a few streams may be reset by Kestrel's HTTP/2 limits (CANCEL, ENHANCE_YOUR_CALM) before
            // their first message is read, but none is ever accepted.
            Assert.That(tally.CountOf("Connect.impersonation", StatusCode.PermissionDenied), Is.Positive, "registrations as a node the certificate does not name");
            Assert.That(tally.CountOf("Connect.impersonation", StatusCode.OK), Is.Zero, "registrations as a node the certificate does not name");
            Assert.That(cluster.Master!.HasExited, Is.False, "the master survived");
            Assert.That(steady.HasExited, Is.False, "the real worker survived");
        });

        // The real worker kept its one stream (it registered once) and still runs work.
        Assert.That(RegistrationsIn(steady.ReadLog()), Is.EqualTo(1), "the real worker never had to reconnect");
        var spec = ClusterApi.Shell("exit 0");
        spec.NodeSelector["role"] = "steady";
        var job = await api.SubmitAsync(spec);
        var done = await api.WaitForJobAsync(job.Id, j => j.State is JobState.Succeeded or JobState.Failed, "finished", TimeSpan.FromSeconds(60));
        Assert.That((done.State, done.NodeId), Is.EqualTo((JobState.Succeeded, "steady-node")), done.Message);

        // The pending jobs the fake workers reported on are as they were: no report from a stranger moved them.
        foreach (var id in known)
        {
            var state = (await api.Jobs.GetAsync(new GetJobRequest { Id = id }, deadline: ClusterApi.Deadline())).State;
            Assert.That(state, Is.EqualTo(JobState.Pending), id);
        }

        await MasterApiFuzzTests.AssertHealthyAndWholeAsync(cluster, api);
    }

    private static int RegistrationsIn(string log) =>
        log.Split('\n').Count(l => l.Contains("MasterLink", StringComparison.Ordinal) && l.Contains("registered", StringComparison.OrdinalIgnoreCase));

    /// <summary>One fake worker's stream: what kind it is, and its messages in order.</summary>
    private static (string Kind, List<byte[]> Payloads) Script(Random random, int index, WireFuzzer fuzzer, IReadOnlyList<string> jobIds, Google.Protobuf.Reflection.MessageDescriptor type)
    {
        // A few node ids shared by many streams, so registrations also replace each other's sessions.
        var nodeId = $"fuzz-gw-{index % 40}";
        var register = new WorkerMessage { Register = Registration(nodeId) }.ToByteArray();
        var payloads = new List<byte[]>();
        switch (random.Next(7))
        {
            case 6:
                // The real worker's node id, which the certificate does not name: refused, and its session stays.
                payloads.Add(new WorkerMessage { Register = Registration("steady-node") }.ToByteArray());
                payloads.Add(Valid(random, jobIds).ToByteArray());
                return ("impersonation", payloads);
            case 0:
                payloads.Add(fuzzer.Message(type, random, 0));
                return ("first-message-random", payloads);
            case 1:
                var garbage = new byte[random.Next(0, 300)];
                random.NextBytes(garbage);
                payloads.Add(garbage);
                return ("garbage-bytes", payloads);
            case 2:
                payloads.Add(Valid(random, jobIds).ToByteArray());
                return ("not-registered-first", payloads);
            case 3:
                // A valid registration with one hostile field merged into it.
                payloads.Add([.. register, .. WireFuzzer.Field(WorkerMessage.RegisterFieldNumber, fuzzer.OneField(RegisterWorker.Descriptor, random, 0))]);
                return ("hostile-registration", payloads);
            default:
                payloads.Add(register);
                var count = random.Next(1, 20);
                for (var m = 0; m < count; m++)
                {
                    payloads.Add(random.Next(10) switch
                    {
                        0 => register,
                        1 => fuzzer.Message(type, random, 0),
                        < 5 => Valid(random, jobIds).ToByteArray(),
                        _ => [.. Valid(random, jobIds).ToByteArray(), .. fuzzer.OneField(type, random, 0)],
                    });
                }

                return ("registered-then-hostile", payloads);
        }
    }

    private static RegisterWorker Registration(string nodeId)
    {
        var registration = new RegisterWorker
        {
            NodeId = nodeId,
            Hostname = nodeId,
            Capacity = new Resources { CpuMillis = 1000, MemoryMib = 512 },
            WorkerVersion = "fuzz",
        };
        registration.Labels["role"] = "fuzz";
        return registration;
    }

    /// <summary>A well-formed message a worker could send, about a real job or a made-up one.</summary>
    private static WorkerMessage Valid(Random random, IReadOnlyList<string> jobIds)
    {
        var job = random.Next(2) == 0 ? jobIds[random.Next(jobIds.Count)] : $"j-{random.Next(100)}";
        var agent = new AgentStatus
        {
            JobId = job,
            Attempt = random.Next(0, 3),
            State = (AgentState)random.Next(1, 5),
            ExitCode = random.Next(-1, 2),
            Pid = random.Next(),
        };
        return random.Next(8) switch
        {
            0 => new WorkerMessage { Heartbeat = new Heartbeat { Sequence = (ulong)random.Next(), Agents = { agent } } },
            1 => new WorkerMessage { AgentEvent = new AgentEvent { Agent = agent } },
            2 => new WorkerMessage { Logs = new LogsReply { RequestId = $"r-{random.Next(10)}", Found = true, Data = ByteString.CopyFromUtf8("x") } },
            3 => new WorkerMessage { Leaving = new Leaving { Reason = "fuzz" } },
            4 => new WorkerMessage { CommandRejected = new CommandRejected { Command = "StartAgent", Reason = "fuzz" } },
            5 => new WorkerMessage { MigrationReport = new MigrationReport { MigrationId = $"m-{random.Next(5)}", JobId = job, Attempt = 1, Ok = random.Next(2) == 0 } },
            6 => new WorkerMessage { CheckpointReport = new CheckpointReport { CheckpointId = $"c-{random.Next(5)}", JobId = job, Attempt = 1, Ok = true, StoredOn = { "steady-node" } } },
            _ => new WorkerMessage { Heartbeat = new Heartbeat { Sequence = 1, Gpus = { new GpuTelemetry { Index = -1, Uuid = "GPU-x" } } } },
        };
    }
}
