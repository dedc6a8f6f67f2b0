using System.ComponentModel.DataAnnotations;

namespace Scheduler.Master.Security;

/// <summary>Authentication and limits, bound from "Master:Security" (flags --auth, --bootstrap-token-file, --rate-limit-*).</summary>
internal sealed class SecurityOptions
{
    public const string Section = "Master:Security";

    /// <summary>Every call needs a token or a worker certificate; off (the default) keeps today's open API and logs a warning.</summary>
    public bool Enabled { get; set; }

    /// <summary>
    /// A file holding an admin bearer string: stored (hashed) as the token named "bootstrap" when no
    /// token has its id yet; created with a fresh secret (mode 0600) when the file does not exist.
    /// </summary>
    public string BootstrapTokenFile { get; set; } = "";

    /// <summary>Requests per second each token may make on average; 0 turns the limit off.</summary>
    [Range(0, 1_000_000)]
    public double RateLimitPerSecond { get; set; } = 100;

    /// <summary>Requests a token may make at once before the average applies.</summary>
    [Range(1, 1_000_000)]
    public int RateLimitBurst { get; set; } = 200;

    /// <summary>Streams (watches, snapshots) one token or certificate may hold open at once.</summary>
    [Range(1, 100_000)]
    public int MaxStreamsPerIdentity { get; set; } = 16;

    /// <summary>How often each master reads the tokens of the streams it holds open, to end those revoked through another master.</summary>
    [Range(50, 60_000)]
    public int RevocationCheckMs { get; set; } = 1000;

    /// <summary>Where denials and token changes are appended as JSON lines; empty means audit.jsonl in the data folder.</summary>
    public string AuditFile { get; set; } = "";
}
