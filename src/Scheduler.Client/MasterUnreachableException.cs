using Grpc.Core;

namespace Scheduler.Client;

/// <summary>No master could be reached at the transport level within the retry bounds.</summary>
public sealed class MasterUnreachableException : Exception
{
    /// <summary>Creates the exception with no addresses, for serialisers and frameworks.</summary>
    public MasterUnreachableException()
        : this([], new RpcException(new Status(StatusCode.Unavailable, "unreachable")))
    {
    }

    /// <summary>Creates the exception with a message and no addresses.</summary>
    public MasterUnreachableException(string message)
        : base(message)
    {
        Addresses = [];
    }

    /// <summary>Creates the exception with a message and the failure behind it.</summary>
    public MasterUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
        Addresses = [];
    }

    /// <summary>Creates the exception for the addresses tried and the last failure seen.</summary>
    public MasterUnreachableException(IReadOnlyList<Uri> addresses, RpcException lastError)
        : base($"could not reach {string.Join(", ", addresses.Select(a => a.ToString().TrimEnd('/')))}: {Describe(lastError)}", lastError)
    {
        Addresses = addresses;
    }

    /// <summary>Every address the client tried, in order of first use.</summary>
    public IReadOnlyList<Uri> Addresses { get; }

    private static string Describe(RpcException error)
    {
        var inner = error.Status.DebugException;
        while (inner?.InnerException is not null)
        {
            inner = inner.InnerException;
        }

        return inner is null ? error.Status.Detail : inner.Message;
    }
}
