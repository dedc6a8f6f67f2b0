using System.Globalization;
using Scheduler.Core.Cluster;

namespace Scheduler.Core.Queueing;

/// <summary>
/// Gang jobs as the queue sees them: one queued job per replica, each with its own id
/// (<see cref="MemberId"/>) and the gang's id, placed all or nothing and released together.
/// </summary>
public static class GangJobs
{
    /// <summary>The job id of replica <paramref name="index"/> of gang <paramref name="gangId"/>.</summary>
    public static string MemberId(string gangId, int index) =>
        string.Create(CultureInfo.InvariantCulture, $"{gangId}/{index}");

    /// <summary>
    /// One queued replica per index for <paramref name="job"/> (whose id becomes the gang id);
    /// a single replica is returned as it is.
    /// </summary>
    public static IReadOnlyList<QueuedJob> Expand(QueuedJob job, int replicas)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        if (replicas == 1)
        {
            return [job];
        }

        var members = new QueuedJob[replicas];
        for (var i = 0; i < replicas; i++)
        {
            members[i] = job with
            {
                Demand = job.Demand with { JobId = MemberId(job.JobId, i) },
                GangId = job.JobId,
                GangSize = replicas,
            };
        }

        return members;
    }

    /// <summary>Releases every replica of the gang wherever it is allocated; returns how many were.</summary>
    public static int Release(IEnumerable<NodeState> nodes, string gangId, int size)
    {
        var released = 0;
        foreach (var node in nodes)
        {
            for (var i = 0; i < size; i++)
            {
                if (node.Release(MemberId(gangId, i)))
                {
                    released++;
                }
            }
        }

        return released;
    }
}
