using System.Numerics;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Page-aligned chunk buffers in power-of-two sizes from 4 KiB to <see cref="TransferLimits.MaxChunkBytes"/>.
/// Each size keeps a few returned buffers (a push stream holds one or two at a time); more are left to
/// the GC. On this project's VMs, memory the process has not touched recently is written at a fraction
/// of the speed of memory it reuses, so a 1 GiB transfer through two recycled buffers per stream is
/// several times cheaper than one through 1024 fresh ones.
/// </summary>
internal sealed class ChunkBufferPool
{
    public const int Alignment = 4096;

    private const int MinShift = 12;
    private const int MaxKeptPerSize = 8;

    private readonly Lock _lock = new();
    private readonly Stack<ChunkBuffer>[] _sizes;

    public ChunkBufferPool()
    {
        _sizes = new Stack<ChunkBuffer>[BitOperations.Log2((uint)TransferLimits.MaxChunkBytes) - MinShift + 1];
        for (var i = 0; i < _sizes.Length; i++)
        {
            _sizes[i] = new Stack<ChunkBuffer>();
        }
    }

    public static ChunkBufferPool Shared { get; } = new();

    /// <summary>A buffer of exactly <paramref name="length"/> bytes (at most <see cref="TransferLimits.MaxChunkBytes"/>).</summary>
    public ChunkBuffer Rent(int length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(length, TransferLimits.MaxChunkBytes);
        var size = SizeIndex(length);
        ChunkBuffer? buffer = null;
        lock (_lock)
        {
            _sizes[size].TryPop(out buffer);
        }

        buffer ??= Allocate(Alignment << size);
        buffer.Reset(length);
        return buffer;
    }

    internal void Return(ChunkBuffer buffer)
    {
        var size = SizeIndex(buffer.Capacity);
        lock (_lock)
        {
            if (_sizes[size].Count < MaxKeptPerSize)
            {
                _sizes[size].Push(buffer);
            }
        }
    }

    private static int SizeIndex(int length) =>
        length <= Alignment ? 0 : BitOperations.Log2(BitOperations.RoundUpToPowerOf2((uint)length)) - MinShift;

    private unsafe ChunkBuffer Allocate(int capacity)
    {
        // Pinned (never moved by the GC) and over-allocated by one page, so an aligned window fits.
        var array = GC.AllocateUninitializedArray<byte>(capacity + Alignment, pinned: true);
        fixed (byte* start = array)
        {
            var misalignment = (int)((nuint)start % Alignment);
            return new ChunkBuffer(this, array, misalignment == 0 ? 0 : Alignment - misalignment, capacity);
        }
    }
}
