using Scheduler.Core.Cluster;

namespace Scheduler.Core.Placement;

/// <summary>
/// A cacheable policy that can bound its score cheaply: from a measure of the node's state alone
/// (the same for every job shape, so the engine computes it once per class state) and the job's
/// resources, a value no GPU choice on that node can score above. The engine then scores exactly
/// only the classes whose bound could still beat the best exact score it holds, instead of every
/// class that changed (lazy evaluation with upper bounds); the choice is the same as scoring them all.
/// </summary>
internal interface IScoreBounds
{
    /// <summary>False where this instance gives no bounds (the engine then scores every class).</summary>
    bool HasScoreBounds { get; }

    /// <summary>
    /// The part of the bound that depends on the node's state only. Valid for the version the last
    /// <see cref="ICacheableScores.Prepare"/> returned, which is called first.
    /// </summary>
    NodeMeasure Measure(NodeState node);

    /// <summary>
    /// A score no choice of GPUs on a node that passes the filter for <paramref name="demand"/> reaches
    /// above, given the node's <paramref name="measure"/>, its free GPU capacity and its GPU capacity
    /// (milli-GPU): numbers the engine keeps per class, so a bound reads no node.
    /// </summary>
    double Bound(JobDemand demand, NodeMeasure measure, long gpuFreeMilli, long gpuCapacityMilli);
}

/// <summary>A policy's measure of a node state for <see cref="IScoreBounds"/>: three numbers whose meaning the policy defines.</summary>
internal readonly record struct NodeMeasure(double First, double Second, double Third);
