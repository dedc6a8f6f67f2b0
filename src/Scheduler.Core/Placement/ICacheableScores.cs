namespace Scheduler.Core.Placement;

/// <summary>
/// A policy whose score of a node state for a job depends only on that state and the job's
/// resources (Borg's score caching): the engine may keep a class's score for a job shape until the
/// class changes or <see cref="Prepare"/> returns another version.
/// </summary>
internal interface ICacheableScores
{
    /// <summary>False where the scores of this instance cannot be cached (a wrapper around a policy that forbids it).</summary>
    bool ScoresCacheable { get; }

    /// <summary>
    /// Called before the first score read for <paramref name="demand"/> (where the policy would have
    /// scored it: learning policies observe the job here); returns a version that changes whenever
    /// the scores of unchanged node states may have changed.
    /// </summary>
    int Prepare(JobDemand demand);
}
