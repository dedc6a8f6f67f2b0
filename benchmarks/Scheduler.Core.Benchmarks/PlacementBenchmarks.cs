using BenchmarkDotNet.Attributes;
using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Queueing;

namespace Scheduler.Core.Benchmarks;

/// <summary>
/// The BenchmarkDotNet form of the quick run (<c>--bdn --filter '*'</c>): one placement call on a
/// loaded cluster, through the index the scheduling cycle keeps and through a plain node array,
/// and a full pass over the pending queue as the master runs it. Every policy at 1,000 and 10,000
/// nodes; the memory diagnoser gives bytes per call. Long: expect hours for the whole matrix.
/// </summary>
[MemoryDiagnoser]
public class PlacementBenchmarks
{
    private const int Calls = 256;
    private CoreScenario _scenario = null!;
    private NodeState[] _nodes = null!;
    private Dictionary<string, NodeState> _byId = null!;
    private PlacementEngine _engine = null!;
    private PlacementIndex _index = null!;
    private JobDemand[] _stream = null!;
    private int _next;
    private QueuedJob[] _waiting = null!;

    [Params(1_000, 10_000)]
    public int Nodes { get; set; }

    [ParamsSource(nameof(AllPolicies))]
    public string Policy { get; set; } = PlacementPolicies.Default;

    [Params(100_000)]
    public int Pending { get; set; }

    public static IEnumerable<string> AllPolicies => PlacementPolicies.Names;

    [GlobalSetup(Targets = [nameof(PlacementCallIndexed), nameof(PlacementCallArray)])]
    public void SetUpCalls()
    {
        _scenario = new CoreScenario(CoreScenario.DataDir);
        _nodes = _scenario.Nodes(Nodes);
        _scenario.Fill(_nodes, seed: 7);
        _byId = _nodes.ToDictionary(n => n.Id, StringComparer.Ordinal);
        _engine = new PlacementEngine(_scenario.MasterPolicy(Policy));
        _index = new PlacementIndex(_nodes);
        _stream = _scenario.Demands(1 << 16, seed: 11, prefix: "call");
    }

    // Each call is undone at once (the job ends): the cluster stays at its loaded steady state.
    [Benchmark(OperationsPerInvoke = Calls)]
    public void PlacementCallIndexed()
    {
        for (var i = 0; i < Calls; i++)
        {
            var demand = _stream[_next++ & (_stream.Length - 1)];
            if (_engine.FindAllocation(demand, _index) is { } allocation)
            {
                var node = _byId[allocation.NodeId];
                node.Allocate(allocation);
                node.Release(allocation.JobId);
            }
        }
    }

    [Benchmark(OperationsPerInvoke = Calls)]
    public void PlacementCallArray()
    {
        for (var i = 0; i < Calls; i++)
        {
            var demand = _stream[_next++ & (_stream.Length - 1)];
            if (_engine.FindAllocation(demand, _nodes) is { } allocation)
            {
                var node = _byId[allocation.NodeId];
                node.Allocate(allocation);
                node.Release(allocation.JobId);
            }
        }
    }

    [GlobalSetup(Target = nameof(FullPass))]
    public void SetUpPass()
    {
        _scenario = new CoreScenario(CoreScenario.DataDir);
        _waiting = CoreScenario.Queue(_scenario.Demands(Pending, seed: 17, prefix: "pending"), DateTimeOffset.UnixEpoch);
    }

    [IterationSetup(Target = nameof(FullPass))]
    public void FreshCluster() => _byId = _scenario.Nodes(Nodes).ToDictionary(n => n.Id, StringComparer.Ordinal);

    [Benchmark]
    public int FullPass() =>
        _scenario.MasterCycle(Policy).Run(_waiting, _byId, DateTimeOffset.UnixEpoch, new Dictionary<string, RunningJob>(StringComparer.Ordinal)).Count;
}
