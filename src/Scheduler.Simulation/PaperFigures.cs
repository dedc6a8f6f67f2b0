namespace Scheduler.Simulation;

/// <summary>One published figure set: GPU allocation at 100% and 130% arrived demand and fragmentation at 100%, in % of capacity.</summary>
public readonly record struct PaperFigure(double Alloc100, double Alloc130, double Frag100);

/// <summary>
/// The published results of "Beware of Fragmentation" (Weng et al., USENIX ATC'23) on the twelve
/// workloads of <c>alibaba-gpu-v2023</c>: means over seeds 42-51 of its artifact's
/// <c>experiments/analysis/expected_results/analysis_allo_discrete.csv</c> (allocation) and
/// <c>analysis_frag_discrete.csv</c> (fragmentation amount), read at 100% and 130% arrived demand.
/// </summary>
public static class PaperFigures
{
    /// <summary>The paper's policies, in its order, with the name of our policy that reproduces each.</summary>
    public static IReadOnlyList<(string Paper, string Ours)> Policies { get; } =
    [
        ("random", "random"),
        ("dot-product", "dot-product"),
        ("gpu-clustering", "gpu-clustering"),
        ("gpu-packing", "gpu-packing"),
        ("best-fit", "best-fit-paper"),
        ("FGD", "fgd"),
    ];

    /// <summary>The twelve workloads, by the suffix of their <c>openb_pod_list_*.csv</c> file.</summary>
    public static IReadOnlyList<string> Workloads { get; } =
        ["default", "cpu050", "cpu100", "cpu200", "gpushare40", "gpushare60", "gpuspec10", "gpuspec20", "gpuspec25", "multigpu20", "multigpu30", "multigpu40"];

    private static readonly Dictionary<string, PaperFigure[]> Figures = new(StringComparer.Ordinal)
    {
        ["default"] = [new(86.30, 87.47, 13.49), new(90.62, 90.85, 9.30), new(91.65, 91.88, 8.21), new(91.78, 92.00, 8.13), new(92.86, 93.08, 7.05), new(95.23, 95.39, 4.73)],
        ["cpu050"] = [new(89.02, 91.24, 10.50), new(93.03, 93.27, 6.88), new(93.52, 93.79, 6.34), new(93.46, 93.72, 6.42), new(93.56, 93.79, 6.34), new(95.00, 95.21, 4.94)],
        ["cpu100"] = [new(87.44, 89.11, 12.23), new(91.73, 91.95, 8.21), new(92.41, 92.64, 7.45), new(92.49, 92.72, 7.45), new(93.26, 93.44, 6.67), new(95.21, 95.35, 4.75)],
        ["cpu200"] = [new(83.03, 83.77, 16.82), new(87.46, 87.70, 12.46), new(89.67, 89.92, 10.22), new(89.98, 90.22, 9.96), new(92.15, 92.40, 7.79), new(94.82, 95.05, 5.10)],
        ["gpushare40"] = [new(84.86, 86.00, 14.95), new(89.30, 89.56, 10.65), new(89.76, 90.02, 10.14), new(89.77, 90.03, 10.16), new(91.44, 91.69, 8.52), new(93.96, 94.15, 5.98)],
        ["gpushare60"] = [new(82.81, 83.65, 16.99), new(86.82, 87.11, 13.10), new(86.90, 87.20, 12.94), new(87.15, 87.45, 12.76), new(89.06, 89.36, 10.87), new(91.25, 91.40, 8.68)],
        ["gpuspec10"] = [new(86.26, 87.43, 13.50), new(90.17, 90.39, 9.74), new(91.96, 92.18, 7.91), new(92.24, 92.46, 7.65), new(93.10, 93.31, 6.81), new(94.66, 94.95, 5.13)],
        ["gpuspec20"] = [new(85.90, 87.24, 13.83), new(88.29, 89.97, 10.44), new(89.11, 92.24, 8.48), new(89.28, 92.94, 7.96), new(88.46, 93.30, 7.84), new(94.66, 94.84, 5.27)],
        ["gpuspec25"] = [new(85.42, 86.94, 14.27), new(85.44, 89.63, 11.36), new(86.41, 92.08, 9.36), new(86.77, 92.98, 8.67), new(85.67, 93.23, 8.74), new(93.91, 94.74, 5.32)],
        ["multigpu20"] = [new(86.92, 88.69, 12.68), new(91.85, 92.06, 8.04), new(93.34, 93.56, 6.47), new(93.50, 93.71, 6.37), new(93.73, 93.93, 6.15), new(95.53, 95.65, 4.39)],
        ["multigpu30"] = [new(86.63, 89.27, 12.57), new(93.11, 93.28, 6.82), new(94.55, 94.72, 5.26), new(94.70, 94.87, 5.19), new(94.57, 94.72, 5.33), new(96.36, 96.46, 3.57)],
        ["multigpu40"] = [new(85.37, 90.09, 12.14), new(94.04, 94.19, 5.84), new(95.35, 95.50, 4.40), new(95.59, 95.74, 4.28), new(95.10, 95.23, 4.77), new(96.91, 96.99, 3.05)],
    };

    /// <summary>The paper's figures for <paramref name="workload"/> and its policy <paramref name="paperPolicy"/>, if published.</summary>
    public static PaperFigure? For(string workload, string paperPolicy)
    {
        var p = -1;
        for (var i = 0; i < Policies.Count; i++)
        {
            if (string.Equals(Policies[i].Paper, paperPolicy, StringComparison.Ordinal))
            {
                p = i;
            }
        }

        return p >= 0 && Figures.TryGetValue(workload, out var row) ? row[p] : null;
    }

    /// <summary>The paper's figures for the paper policy that <paramref name="ourPolicy"/> reproduces, if any.</summary>
    public static PaperFigure? ForOurs(string workload, string ourPolicy)
    {
        foreach (var (paper, ours) in Policies)
        {
            if (string.Equals(ours, ourPolicy, StringComparison.Ordinal))
            {
                return For(workload, paper);
            }
        }

        return null;
    }
}
