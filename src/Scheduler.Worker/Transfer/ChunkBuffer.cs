namespace Scheduler.Worker.Transfer;

/// <summary>
/// A received chunk's bytes in page-aligned pinned memory from <see cref="ChunkBufferPool"/>: aligned so
/// that the staging store can hand it to the kernel with O_DIRECT, pooled so that a transfer keeps
/// reusing the same few (already faulted-in) pages instead of allocating a fresh megabyte per chunk.
/// Disposing returns it to its pool; it must not be used afterwards.
/// </summary>
internal sealed class ChunkBuffer : IDisposable
{
    private readonly ChunkBufferPool _pool;
    private readonly byte[] _array;
    private readonly int _offset;
    private int _returned;

    internal ChunkBuffer(ChunkBufferPool pool, byte[] array, int offset, int capacity)
    {
        _pool = pool;
        _array = array;
        _offset = offset;
        Capacity = capacity;
    }

    public int Capacity { get; }

    public int Length { get; private set; }

    public Span<byte> Span => _array.AsSpan(_offset, Length);

    public Memory<byte> Memory => _array.AsMemory(_offset, Length);

    internal void Reset(int length)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, Capacity);
        Length = length;
        _returned = 0;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _returned, 1) == 0)
        {
            _pool.Return(this);
        }
    }
}
