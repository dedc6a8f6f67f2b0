namespace Scheduler.Core.Placement;

/// <summary>The names by which placement policies are chosen in configuration.</summary>
public static class PlacementPolicyNames
{
    /// <summary>Least leftover capacity after placement: packs tightly, keeps whole nodes free.</summary>
    public const string BestFit = "best-fit";

    /// <summary>Best fit scored as the FGD paper's simulator does: absolute leftover, integer scores, random ties.</summary>
    public const string BestFitPaper = "best-fit-paper";

    /// <summary>Most leftover capacity after placement: spreads load and heat.</summary>
    public const string Spread = "spread";

    /// <summary>Tetris alignment: smallest dot product of request and free capacity.</summary>
    public const string DotProduct = "dot-product";

    /// <summary>Share used GPUs first, then used nodes, then idle nodes.</summary>
    public const string GpuPacking = "gpu-packing";

    /// <summary>Keep tasks with the same GPU request on the same nodes.</summary>
    public const string GpuClustering = "gpu-clustering";

    /// <summary>Uniformly random among feasible placements (seeded).</summary>
    public const string Random = "random";

    /// <summary>Fragmentation gradient descent (ATC'23), as published.</summary>
    public const string Fgd = "fgd";

    /// <summary>Deterministic variant: exact fragmentation decrease counting memory stranding, with a best-fit term.</summary>
    public const string FragPack = "frag-pack";

    /// <summary>FGD measured against every task shape, counting memory stranding.</summary>
    public const string FgdMem = "fgd-mem";

    /// <summary>
    /// Our default (see <see cref="PlacementPolicies.Default"/>): <see cref="FgdMem"/> with CPU-only tasks
    /// parked, among equal scores, on the nodes with the least idle GPU, and a finer integer score for shared-GPU tasks.
    /// </summary>
    public const string FgdCpu = "fgd-cpu";
}
