using Scheduler.Core.Resources;

namespace Scheduler.Core.Placement;

/// <summary>Everything placement needs to know about one job: its size and its constraints.</summary>
public sealed record JobDemand(
    string JobId,
    ResourceRequest Resources,
    IReadOnlyList<string> GpuModels,
    IReadOnlyDictionary<string, string> NodeSelector)
{
    private static readonly Dictionary<string, string> NoSelector = new();

    /// <summary>
    /// How well the job's whole GPUs must be connected; <see cref="TopologyLevel.System"/> (the default) asks
    /// nothing, though the best-connected free set on the chosen node is still preferred.
    /// </summary>
    public TopologyLevel RequiredTopology { get; init; }

    /// <summary>A demand with no model or label constraint.</summary>
    public static JobDemand Of(string jobId, ResourceRequest resources) =>
        new(jobId, resources, Array.Empty<string>(), NoSelector);
}
