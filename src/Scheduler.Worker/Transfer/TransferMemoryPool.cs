using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Scheduler.Worker.Transfer;

/// <summary>
/// Kestrel's memory pool for the transfer endpoint: pinned blocks of <see cref="BlockSize"/> bytes where
/// Kestrel's own pool has 4 KiB ones. Kestrel reads a socket into one block per receive, so with 4 KiB
/// blocks a 1 GiB checkpoint costs some 260,000 receive calls (each a syscall and a trip through the
/// pipe); measured here, that alone capped a loopback transfer near 0.6 GB/s with no hashing or disk
/// at all. The worker's Kestrel serves nothing but transfers, so the larger blocks cost little.
/// Up to <see cref="MaxKeptBytes"/> of returned blocks are kept for reuse; the rest go to the GC.
/// </summary>
internal sealed class TransferMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;
    public const long MaxKeptBytes = 64L << 20;

    private readonly ConcurrentQueue<Block> _blocks = new();
    private int _kept;

    public override int MaxBufferSize => BlockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        if (_blocks.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _kept);
            block.Rented();
            return block;
        }

        return new Block(this);
    }

    protected override void Dispose(bool disposing)
    {
        _blocks.Clear();
    }

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _kept) <= MaxKeptBytes / BlockSize)
        {
            _blocks.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _kept);
        }
    }

    private sealed class Block(TransferMemoryPool pool) : IMemoryOwner<byte>
    {
        private int _returned;

        public Memory<byte> Memory { get; } = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);

        public void Rented() => _returned = 0;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _returned, 1) == 0)
            {
                pool.Return(this);
            }
        }
    }
}

/// <summary>Hands Kestrel (and anything else that asks the host for a pool) a <see cref="TransferMemoryPool"/>.</summary>
internal sealed class TransferMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new TransferMemoryPool();
}
