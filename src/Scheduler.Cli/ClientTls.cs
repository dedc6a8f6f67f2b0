using System.CommandLine;
using Scheduler.Client;

namespace Scheduler.Cli;

/// <summary>
/// How schedctl reaches masters: TLS unless --insecure (a bare host:port becomes https://), the server checked
/// against --ca / SCHEDULER_CA / the local cluster's DIR/certs/ca.crt, and a client certificate when one is given
/// (or the local cluster's client:schedctl).
/// </summary>
internal static class ClientTls
{
    /// <summary>Client settings for <paramref name="masters"/>; a FormatException (one line for the user) when the flags contradict each other.</summary>
    public static SchedulerClientOptions Resolve(ParseResult parse, string masters, TextWriter error)
    {
        var insecure = IsInsecure(parse);
        var addresses = SchedulerClientOptions.ParseAddresses(masters, insecure ? Uri.UriSchemeHttp : Uri.UriSchemeHttps);
        if (insecure)
        {
            WarnInsecure(error);
            return addresses.FirstOrDefault(a => a.Scheme == Uri.UriSchemeHttps) is { } secure
                ? throw new FormatException($"--insecure speaks plaintext, but {secure} is https; drop --insecure or give http:// addresses")
                : new SchedulerClientOptions { Addresses = addresses, Token = Cli.ResolveToken(parse) };
        }

        if (addresses.FirstOrDefault(a => a.Scheme == Uri.UriSchemeHttp) is { } plain)
        {
            throw new FormatException($"{plain} is plaintext http://; masters speak TLS (https://) unless they run --insecure, and then so must schedctl (--insecure)");
        }

        var local = Path.Combine(Local.LocalCluster.DefaultDirectory, Local.LocalCertificates.FolderName);
        var ca = parse.GetValue(Cli.Ca) ?? Env("SCHEDULER_CA");
        ca ??= File.Exists(Path.Combine(local, ClusterCertificates.CaCertificateFile)) ? Path.Combine(local, ClusterCertificates.CaCertificateFile) : null;
        var cert = parse.GetValue(Cli.Cert) ?? Env("SCHEDULER_CERT");
        var key = parse.GetValue(Cli.Key) ?? Env("SCHEDULER_KEY");
        if (cert is null && key is null && ca is not null && Path.GetDirectoryName(Path.GetFullPath(ca)) == Path.GetFullPath(local)
            && File.Exists(Local.LocalCertificates.ClientCertificatePath(local)))
        {
            cert = Local.LocalCertificates.ClientCertificatePath(local);
            key = Local.LocalCertificates.ClientKeyPath(local);
        }

        if ((cert is null) != (key is null))
        {
            throw new FormatException("--cert and --key go together (or SCHEDULER_CERT and SCHEDULER_KEY)");
        }

        return new SchedulerClientOptions
        {
            Addresses = addresses,
            CaCertificate = ca is null ? null : ClusterCertificates.LoadCertificate(ca),
            ClientCertificate = cert is null ? null : ClusterCertificates.Load(cert, key!),
            Token = Cli.ResolveToken(parse),
        };
    }

    /// <summary>Whether --insecure (or SCHEDULER_INSECURE=1/true) asks for plaintext.</summary>
    public static bool IsInsecure(ParseResult parse) =>
        parse.GetValue(Cli.Insecure) || Env("SCHEDULER_INSECURE") is "1" or "true" or "TRUE" or "True";

    public static void WarnInsecure(TextWriter error) =>
        error.WriteLine("warning: --insecure: plaintext to the masters, nothing verified; use TLS (schedctl certs) outside a trusted network");

    private static string? Env(string name) => Environment.GetEnvironmentVariable(name) is { Length: > 0 } value ? value : null;
}
