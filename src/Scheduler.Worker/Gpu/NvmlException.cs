namespace Scheduler.Worker.Gpu;

/// <summary>An NVML call failed; the message names the call and NVML's own description.</summary>
internal sealed class NvmlException : Exception
{
    public NvmlException(string call, int result)
        : base($"{call} failed: {NvmlNative.Describe(result)} ({result})")
    {
        Result = result;
    }

    public NvmlException()
    {
    }

    public NvmlException(string message)
        : base(message)
    {
    }

    public NvmlException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public int Result { get; }
}
