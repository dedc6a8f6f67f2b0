using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Options;
using Scheduler.Contracts.V1;
using Scheduler.Master.Leadership;
using Scheduler.Master.Scheduling;
using Scheduler.Master.Security;

namespace Scheduler.Master.Services;

/// <summary>Operating the cluster: reads come from the published view, changes go through the loop.</summary>
[BindServiceMethod(typeof(AdminService), nameof(BindService))]
internal sealed class AdminService : Admin.AdminBase
{
    /// <summary>
    /// The generated binding, except that a malformed request is INVALID_ARGUMENT (see <see cref="Hosting.MalformedRequestBinder"/>).
    /// The parameter is the generated base type: ASP.NET Core looks the handlers up as overrides of its methods.
    /// </summary>
    public static void BindService(ServiceBinderBase binder, Admin.AdminBase? service) =>
        Admin.BindService(new Hosting.MalformedRequestBinder(binder), service);

    private readonly MasterRole _role;
    private readonly MasterAddress _address;
    private readonly MasterOptions _options;
    private readonly TokenAdministration _tokens;

    public AdminService(MasterRole role, MasterAddress address, IOptions<MasterOptions> options, TokenAdministration tokens)
    {
        _tokens = tokens;
        _role = role;
        _address = address;
        _options = options.Value;
    }

    /// <summary>The leader's loop; a standby refuses with FAILED_PRECONDITION and the leader's address.</summary>
    private SchedulerLoop Loop => _role.RequireLeader();

    public override Task<ClusterStatus> GetClusterStatus(GetClusterStatusRequest request, ServerCallContext context)
    {
        var view = Loop.View;
        var status = new ClusterStatus
        {
            Leader = Leader(view),
            NodesTotal = view.Nodes.Count,
            NodesReady = view.Nodes.Values.Count(n => n.Health == NodeHealth.Ready),
            Capacity = new Contracts.V1.Resources(),
            Allocated = new Contracts.V1.Resources(),
        };
        long gpuMilliTotal = 0;
        long gpuMilliFree = 0;
        foreach (var node in view.Nodes.Values.Where(n => n.Health != NodeHealth.Dead))
        {
            status.Capacity.CpuMillis += node.Capacity.CpuMillis;
            status.Capacity.MemoryMib += node.Capacity.MemoryMib;
            status.Capacity.Gpus += node.Capacity.Gpus;
            status.Allocated.CpuMillis += node.Capacity.CpuMillis - node.Free.CpuMillis;
            status.Allocated.MemoryMib += node.Capacity.MemoryMib - node.Free.MemoryMib;
            status.Allocated.Gpus += node.Capacity.Gpus - node.Free.Gpus;
            gpuMilliTotal += node.Gpus.Count * 1000L;
            gpuMilliFree += node.Gpus.Sum(g => (long)g.FreeMilli);
        }

        status.GpusTotal = status.Capacity.Gpus;
        status.GpuAllocationPercent = gpuMilliTotal == 0 ? 0 : 100.0 * (gpuMilliTotal - gpuMilliFree) / gpuMilliTotal;
        foreach (var group in view.Jobs.Values.GroupBy(j => j.State))
        {
            status.JobsByState[StateName(group.Key)] = group.Count();
        }

        foreach (var advice in view.Scaling)
        {
            status.Scaling.Add(new Contracts.V1.ScalingAdvice { GpuModel = advice.Model, HostsDelta = advice.Delta, Reason = advice.Reason });
        }

        return Task.FromResult(status);
    }

    public override Task<ListNodesResponse> ListNodes(ListNodesRequest request, ServerCallContext context)
    {
        var response = new ListNodesResponse();
        response.Nodes.Add(Loop.View.Nodes.Values);
        return Task.FromResult(response);
    }

    public override Task<Node> DescribeNode(DescribeNodeRequest request, ServerCallContext context)
    {
        JobsService.RequireId(request.Id, "id");
        return Loop.View.Nodes.TryGetValue(request.Id, out var node)
            ? Task.FromResult(node)
            : throw new RpcException(new Status(StatusCode.NotFound, $"node '{request.Id}' not found"));
    }

    public override Task<Node> CordonNode(CordonNodeRequest request, ServerCallContext context) =>
        Change(request.Id, NodeOperation.Cordon, "", context);

    public override Task<Node> UncordonNode(UncordonNodeRequest request, ServerCallContext context) =>
        Change(request.Id, NodeOperation.Uncordon, "", context);

    public override Task<Node> DrainNode(DrainNodeRequest request, ServerCallContext context)
    {
        if (request.Reason.Length > 1024)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "reason must be at most 1024 characters"));
        }

        return Change(request.Id, NodeOperation.Drain, request.Reason, context);
    }

    /// <summary>Answered by standbys too: who leads as far as this master knows, and whether it is itself.</summary>
    public override Task<LeaderInfo> GetLeader(GetLeaderRequest request, ServerCallContext context)
    {
        if (_role.Loop is { Ready.IsCompletedSuccessfully: true } loop)
        {
            return Task.FromResult(Leader(loop.View));
        }

        var leader = _role.Leader;
        return Task.FromResult(new LeaderInfo
        {
            Address = leader?.Address ?? "",
            MasterId = leader?.MasterId ?? "",
            Epoch = leader?.Epoch ?? 0,
            IsLeader = false,
            Since = leader is null ? null : Timestamp.FromDateTimeOffset(leader.Since),
            Store = _role.StoreKind,
        });
    }

    public override async Task<Job> MigrateJob(MigrateJobRequest request, ServerCallContext context)
    {
        JobsService.RequireId(request.JobId, "job_id");
        if (request.TargetNode.Length > 253)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "target_node must be at most 253 characters"));
        }

        var loop = await _role.RequireLeaderAsync(context.CancellationToken);
        return await loop.AskAsync<Job>(tcs => new MigrateJob(request.JobId, request.TargetNode, tcs), context.CancellationToken);
    }

    public override async Task SaveSnapshot(SaveSnapshotRequest request, IServerStreamWriter<SnapshotChunk> responseStream, ServerCallContext context)
    {
        var loop = await _role.RequireLeaderAsync(context.CancellationToken);
        var snapshot = await loop.AskAsync<Store.Snapshot>(tcs => new TakeSnapshot(tcs), context.CancellationToken);

        // Written out here, off the loop: the records are immutable.
        using var buffer = new MemoryStream();
        snapshot.WriteTo(buffer);
        Security.SnapshotTokens.Append(buffer, await _tokens.AllAsync(context.CancellationToken));
        var bytes = buffer.GetBuffer();
        for (var offset = 0; offset < buffer.Length; offset += SnapshotChunkBytes)
        {
            var length = (int)Math.Min(SnapshotChunkBytes, buffer.Length - offset);
            await responseStream.WriteAsync(new SnapshotChunk { Data = Google.Protobuf.ByteString.CopyFrom(bytes, offset, length) }, context.CancellationToken);
        }
    }

    public override async Task<RestoreSnapshotResponse> RestoreSnapshot(IAsyncStreamReader<SnapshotChunk> requestStream, ServerCallContext context)
    {
        using var buffer = new MemoryStream();
        await foreach (var chunk in requestStream.ReadAllAsync(context.CancellationToken))
        {
            if (buffer.Length + chunk.Data.Length > Store.Snapshot.MaxBytes)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"snapshot: larger than {Store.Snapshot.MaxBytes} bytes"));
            }

            chunk.Data.WriteTo(buffer);
        }

        buffer.Position = 0;
        Store.Snapshot snapshot;
        IReadOnlyList<Store.TokenRecord> tokens;
        try
        {
            snapshot = Store.Snapshot.ReadFrom(buffer);
            tokens = Security.SnapshotTokens.Read(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        }
        catch (FormatException ex)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, ex.Message));
        }

        // Tokens after the jobs and nodes: a restore the loop refuses (a cluster that is not fresh) stores none.
        var loop = await _role.RequireLeaderAsync(context.CancellationToken);
        var restored = await loop.AskAsync<RestoreSnapshotResponse>(tcs => new RestoreSnapshot(snapshot, tcs), context.CancellationToken);
        restored.Tokens = await _tokens.RestoreAsync(tokens, context);
        return restored;
    }

    private const int SnapshotChunkBytes = 1 << 20;

    public override async Task<JobExplanation> ExplainJob(ExplainJobRequest request, ServerCallContext context)
    {
        JobsService.RequireId(request.JobId, "job_id");
        var loop = await _role.RequireLeaderAsync(context.CancellationToken);
        JobsService.RequireVisible(loop, request.JobId, context);
        return await loop.AskAsync<JobExplanation>(tcs => new ExplainJob(request.JobId, tcs), context.CancellationToken);
    }

    /// <summary>Answered by any master, leader or not: tokens live in the store, outside any term.</summary>
    public override Task<CreateTokenResponse> CreateToken(CreateTokenRequest request, ServerCallContext context) =>
        _tokens.CreateAsync(request, context);

    public override Task<ListTokensResponse> ListTokens(ListTokensRequest request, ServerCallContext context) =>
        _tokens.ListAsync(context);

    public override Task<AccessToken> RevokeToken(RevokeTokenRequest request, ServerCallContext context) =>
        _tokens.RevokeAsync(request, context);

    private Task<Node> Change(string id, NodeOperation operation, string reason, ServerCallContext context)
    {
        JobsService.RequireId(id, "id");
        return Loop.AskAsync<Node>(tcs => new ChangeNode(id, operation, reason, tcs), context.CancellationToken);
    }

    private LeaderInfo Leader(MasterView view) => new()
    {
        Address = _address.Url ?? "",
        MasterId = _options.MasterId,
        Epoch = view.Epoch,
        IsLeader = true,
        Since = Timestamp.FromDateTimeOffset(view.LeaderSince),
        Store = _role.StoreKind,
    };

    private static string StateName(JobState state) => state switch
    {
        JobState.Pending => "PENDING",
        JobState.Assigned => "ASSIGNED",
        JobState.Running => "RUNNING",
        JobState.Succeeded => "SUCCEEDED",
        JobState.Failed => "FAILED",
        JobState.Cancelled => "CANCELLED",
        JobState.Lost => "LOST",
        JobState.Suspended => "SUSPENDED",
        JobState.Migrating => "MIGRATING",
        _ => "UNSPECIFIED",
    };
}
