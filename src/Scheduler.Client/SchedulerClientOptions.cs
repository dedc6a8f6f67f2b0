using System.Security.Cryptography.X509Certificates;

namespace Scheduler.Client;

/// <summary>Where the masters are and how patiently to talk to them.</summary>
public sealed class SchedulerClientOptions
{
    /// <summary>Master URLs (e.g. <c>http://127.0.0.1:7070</c>); the client starts with the first and follows the leader from there.</summary>
    public IReadOnlyList<Uri> Addresses { get; init; } = [new Uri("http://127.0.0.1:7070")];

    /// <summary>Deadline of one attempt of a unary call; streams have none.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A cap on how many times one call is retried; by default none, so <see cref="RetryBudget"/> decides
    /// (a master restarted by systemd is back within it). 0 turns retries off.
    /// </summary>
    public int MaxRetries { get; init; } = int.MaxValue;

    /// <summary>
    /// How many times one call refused by a busy master (RESOURCE_EXHAUSTED with a retry-after-ms hint) is sent
    /// again, each after the hint; 0 gives the refusal to the caller at once.
    /// </summary>
    public int MaxBusyRetries { get; init; } = 10;

    /// <summary>No retry starts once this much time has passed since the first failure.</summary>
    public TimeSpan RetryBudget { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>First backoff delay; later ones grow exponentially with jitter up to <see cref="MaxBackoff"/>.</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Upper bound of one backoff delay.</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Bearer token (<c>tk-ID.SECRET</c>) sent as <c>authorization: Bearer</c> on every call, for masters
    /// started with <c>--auth</c>; null or empty sends none.
    /// </summary>
    public string? Token { get; init; }

    /// <summary>
    /// The cluster CA (PEM <c>ca.crt</c> of <c>schedctl certs init</c>): an https master must show a certificate
    /// it issued, for the host name dialled; the system's trusted roots are not consulted. Null: the system's roots.
    /// </summary>
    public X509Certificate2? CaCertificate { get; init; }

    /// <summary>A client certificate (with its key) shown to masters that ask for one, e.g. CN=client:NAME from <c>schedctl certs issue --client</c>.</summary>
    public X509Certificate2? ClientCertificate { get; init; }

    /// <summary>
    /// Largest answer the client accepts from a master (gRPC's default is 4 MiB). Masters page their
    /// lists well below it; past it a call fails with RESOURCE_EXHAUSTED.
    /// </summary>
    public int MaxReceiveMessageBytes { get; init; } = 16 * 1024 * 1024;

    /// <summary>Largest request the client sends; a larger one fails here with RESOURCE_EXHAUSTED, before the master refuses it.</summary>
    public int MaxSendMessageBytes { get; init; } = 4 * 1024 * 1024;

    /// <summary>Parses a comma-separated list of master URLs such as <c>http://m1:7070,http://m2:7070</c>; an entry without a scheme is http.</summary>
    /// <exception cref="FormatException">An entry is not an absolute http or https URL.</exception>
    public static IReadOnlyList<Uri> ParseAddresses(string addresses) => ParseAddresses(addresses, Uri.UriSchemeHttp);

    /// <summary>Parses a comma-separated list of master URLs; an entry without a scheme gets <paramref name="defaultScheme"/> (http or https).</summary>
    /// <exception cref="FormatException">An entry is not an absolute http or https URL.</exception>
    public static IReadOnlyList<Uri> ParseAddresses(string addresses, string defaultScheme)
    {
        var result = new List<Uri>();
        foreach (var part in addresses.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var text = part.Contains("://", StringComparison.Ordinal) ? part : $"{defaultScheme}://{part}";
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                throw new FormatException($"'{part}' is not a master URL like http://127.0.0.1:7070");
            }

            result.Add(uri);
        }

        return result.Count > 0 ? result : throw new FormatException("no master address given");
    }

    internal void Validate()
    {
        if (Addresses.Count == 0)
        {
            throw new ArgumentException("at least one master address is required", nameof(Addresses));
        }

        if (MaxReceiveMessageBytes < 64 * 1024 || MaxSendMessageBytes < 64 * 1024)
        {
            throw new ArgumentException("MaxReceiveMessageBytes and MaxSendMessageBytes must be at least 64 KiB");
        }

        if (Timeout <= TimeSpan.Zero || MaxRetries < 0 || MaxBusyRetries < 0 || RetryBudget < TimeSpan.Zero || InitialBackoff < TimeSpan.Zero || MaxBackoff < InitialBackoff)
        {
            throw new ArgumentException("timeouts and backoffs must be positive, MaxRetries and MaxBusyRetries non-negative and MaxBackoff >= InitialBackoff");
        }
    }
}
