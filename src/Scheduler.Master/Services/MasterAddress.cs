namespace Scheduler.Master.Services;

/// <summary>The URL clients reach this master on, known once Kestrel has bound its port.</summary>
internal sealed class MasterAddress
{
    public string? Url { get; set; }
}
