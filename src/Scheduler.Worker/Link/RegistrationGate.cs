namespace Scheduler.Worker.Link;

/// <summary>
/// A per-process limit on registrations in flight, shared by the links of a process that hosts many
/// simulated nodes: a link holds a place from opening its stream until the master has answered the
/// registration (or it gave up), and the rest wait their turn before connecting. When thousands of
/// nodes lose their streams at once (a master cut them as silent, or restarted), they then re-register
/// at the pace the master answers instead of all at once: a registration that waited behind thousands
/// of others in the master's inbox timed out after a quarter of dead-after, the link retried, and the
/// master did the work of each abandoned registration anyway. The wait happens before the stream opens,
/// so it is not counted against the handshake's timeout. A real node (one per process) needs none.
/// </summary>
internal sealed class RegistrationGate : IDisposable
{
    /// <summary>Enough to keep the master's loop busy with registrations, few enough that each is answered within its handshake timeout.</summary>
    internal const int DefaultInFlight = 64;

    private readonly SemaphoreSlim _places;

    public RegistrationGate(int inFlight = DefaultInFlight)
    {
        Limit = Math.Max(1, inFlight);
        _places = new SemaphoreSlim(Limit, Limit);
    }

    /// <summary>Registrations allowed in flight at once.</summary>
    public int Limit { get; }

    /// <summary>Registrations in flight now.</summary>
    public int InFlight => Limit - _places.CurrentCount;

    /// <summary>Waits for a place; the returned place is given back when disposed (once, however often it is disposed).</summary>
    public async ValueTask<Place> EnterAsync(CancellationToken ct)
    {
        await _places.WaitAsync(ct);
        return new Place(this);
    }

    public void Dispose() => _places.Dispose();

    /// <summary>One registration's place in the gate.</summary>
    internal sealed class Place : IDisposable
    {
        private RegistrationGate? _gate;

        internal Place(RegistrationGate gate) => _gate = gate;

        /// <summary>Gives the place back: the registration was answered, refused or abandoned.</summary>
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _gate, null) is { } gate)
            {
                gate._places.Release();
            }
        }
    }
}
