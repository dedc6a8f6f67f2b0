using Grpc.Core;
using Grpc.Net.Client;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>Raw gRPC clients to a test cluster's master, plus waits on what tests observe.</summary>
public sealed class ClusterApi : IDisposable
{
    private readonly GrpcChannel _channel;

    public ClusterApi(string masterUrl)
    {
        _channel = TestCertificates.Channel(masterUrl);
        Jobs = new Jobs.JobsClient(_channel);
        Admin = new Admin.AdminClient(_channel);
    }

    public Jobs.JobsClient Jobs { get; }

    public Admin.AdminClient Admin { get; }

    public GrpcChannel Channel => _channel;

    public static JobSpec Shell(string script, long cpuMillis = 100, long memoryMib = 64, int gpus = 0, int gpuMilli = 0, int priority = 0)
    {
        var spec = new JobSpec
        {
            Name = "test",
            Command = "/bin/sh",
            Resources = new Resources { CpuMillis = cpuMillis, MemoryMib = memoryMib, Gpus = gpus, GpuMilli = gpuMilli },
            Priority = priority,
        };
        spec.Args.Add(["-c", script]);
        return spec;
    }

    public async Task<Job> SubmitAsync(JobSpec spec, string? requestId = null)
    {
        var response = await Jobs.SubmitAsync(new SubmitJobRequest { Spec = spec, RequestId = requestId ?? Guid.NewGuid().ToString("N") }, deadline: Deadline());
        return response.Job;
    }

    public Task<Job> WaitForJobAsync(string id, Func<Job, bool> condition, string what, TimeSpan? timeout = null) =>
        Eventually.ReturnsAsync(
            async () =>
            {
                var job = await Jobs.GetAsync(new GetJobRequest { Id = id }, deadline: Deadline());
                return condition(job) ? job : null;
            },
            $"job {id} to be {what}",
            timeout);

    public Task<Job> WaitForStateAsync(string id, JobState state, TimeSpan? timeout = null) =>
        WaitForJobAsync(id, j => j.State == state, state.ToString(), timeout);

    public Task WaitForReadyNodesAsync(params string[] nodeIds) =>
        Eventually.TrueAsync(
            async () =>
            {
                var nodes = await Admin.ListNodesAsync(new ListNodesRequest(), deadline: Deadline());
                return nodeIds.All(id => nodes.Nodes.Any(n => n.Id == id && n.Health == NodeHealth.Ready));
            },
            $"nodes {string.Join(", ", nodeIds)} to be READY");

    /// <summary>
    /// The deadline of one call in these tests: room for a 2-core CI machine that also runs the other test
    /// assemblies' clusters (a 1,000-job List page once took over 10 s there; it takes well under 1 s alone).
    /// </summary>
    public static DateTime Deadline() => DateTime.UtcNow.AddSeconds(30);

    public void Dispose() => _channel.Dispose();
}

internal static class RpcAssert
{
    public static async Task<RpcException> FailsWith(StatusCode code, Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await call());
        Assert.That(ex!.StatusCode, Is.EqualTo(code), ex.Status.Detail);
        return ex;
    }
}
