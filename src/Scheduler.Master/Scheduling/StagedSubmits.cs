using System.Diagnostics;
using Scheduler.Contracts.V1;
using Scheduler.Master.Store;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The submissions of one inbox batch, decided but not yet stored: the loop writes them in one store
/// transaction and only then makes them current and answers their callers (group commit). A submit
/// repeating a request id already staged follows the first and is answered with its job.
/// </summary>
internal sealed class StagedSubmits
{
    private readonly List<Staged> _entries = [];
    private readonly Dictionary<string, JobRecord> _byRequestId = new(StringComparer.Ordinal);
    private readonly List<JobRecord> _records = [];

    public int Count => _entries.Count;

    /// <summary>The new jobs, in submission order.</summary>
    public IReadOnlyList<JobRecord> Records => _records;

    /// <summary>The entries, each a caller to answer once the group is stored (or failed).</summary>
    public IReadOnlyList<Staged> Entries => _entries;

    /// <summary>The job staged for <paramref name="requestId"/>, if this group holds one.</summary>
    public JobRecord? Find(string requestId) => _byRequestId.GetValueOrDefault(requestId);

    public void Add(SubmitJob submit, JobRecord job, Activity? span)
    {
        _entries.Add(new Staged(submit, job, Created: true, span));
        _records.Add(job);
        _byRequestId[job.RequestId] = job;
    }

    /// <summary>A submit of a request id staged earlier in this group: answered with that job.</summary>
    public void Follow(SubmitJob submit, JobRecord first) => _entries.Add(new Staged(submit, first, Created: false, null));

    public void Clear()
    {
        _entries.Clear();
        _records.Clear();
        _byRequestId.Clear();
    }

    /// <summary>One caller of the group; <paramref name="Created"/> false for a repeat of a request id.</summary>
    internal readonly record struct Staged(SubmitJob Submit, JobRecord Job, bool Created, Activity? Span);
}
