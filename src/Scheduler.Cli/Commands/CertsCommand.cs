using System.CommandLine;
using System.Security.Cryptography;
using Scheduler.Client;

namespace Scheduler.Cli.Commands;

/// <summary>
/// `schedctl certs init|issue`: the cluster CA and the certificates of masters, nodes and clients, as PEM
/// files in one folder (ca.crt, ca.key; NAME.crt, NAME.key). Keys are written 0600.
/// </summary>
internal static class CertsCommand
{
    private static readonly TimeSpan CaValidity = TimeSpan.FromDays(3650);

    public static Command Create()
    {
        var command = new Command("certs", "Create the cluster CA and issue certificates to masters, nodes and clients (TLS)");
        command.Subcommands.Add(Init());
        command.Subcommands.Add(Issue());
        return command;
    }

    private static Option<string> Dir() => new("--dir")
    {
        Description = "Folder of ca.crt/ca.key and the issued NAME.crt/NAME.key",
        DefaultValueFactory = _ => "certs",
    };

    private static Command Init()
    {
        var dir = Dir();
        var name = new Option<string>("--name") { Description = "The CA's common name", DefaultValueFactory = _ => "scheduler cluster CA" };
        var command = new Command("init", "Create the cluster CA (ECDSA P-256, 10 years) in --dir; refuses to replace an existing one") { dir, name };
        command.SetAction(async (parse, ct) =>
        {
            var folder = parse.GetValue(dir)!;
            var key = Path.Combine(folder, ClusterCertificates.CaKeyFile);
            if (File.Exists(key))
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync($"error: {key} exists: a new CA would orphan every certificate it issued (delete it first to start over)");
                return Cli.Error;
            }

            Directory.CreateDirectory(folder);
            using var ca = ClusterCertificates.CreateAuthority(parse.GetValue(name)!, CaValidity);
            ClusterCertificates.WritePem(ca, Path.Combine(folder, ClusterCertificates.CaCertificateFile), key);
            await parse.InvocationConfiguration.Output.WriteLineAsync(
                $"CA {ca.Subject} in {Path.Combine(folder, ClusterCertificates.CaCertificateFile)} (key {key}, keep it private); valid until {ca.NotAfter:yyyy-MM-dd}");
            return Cli.Ok;
        });
        return command;
    }

    private static Command Issue()
    {
        var dir = Dir();
        var node = new Option<string?>("--node") { Description = "Issue node:NAME (a worker; NAME is the node id it may register; NAME-* for a --simulate process)" };
        var master = new Option<string?>("--master") { Description = "Issue master:NAME" };
        var client = new Option<string?>("--client") { Description = "Issue client:NAME (schedctl, SDK users)" };
        var sans = new Option<string[]>("--san")
        {
            Description = "Extra host names or IP addresses the server is dialled by (besides localhost and 127.0.0.1)",
            AllowMultipleArgumentsPerToken = true,
        };
        var days = new Option<int>("--days") { Description = "Validity in days", DefaultValueFactory = _ => 365 };
        var command = new Command("issue", "Issue a certificate signed by the CA in --dir: NAME.crt and NAME.key") { node, master, client, dir, sans, days };
        command.SetAction(async (parse, ct) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var asked = new (ClusterRole Role, string? Name)[] { (ClusterRole.Node, parse.GetValue(node)), (ClusterRole.Master, parse.GetValue(master)), (ClusterRole.Client, parse.GetValue(client)) }
                .Where(r => r.Name is not null).ToArray();
            if (asked.Length != 1)
            {
                await error.WriteLineAsync("error: give exactly one of --node NAME, --master NAME, --client NAME");
                return Cli.Error;
            }

            var (role, name) = (asked[0].Role, asked[0].Name!);
            var folder = parse.GetValue(dir)!;
            if (parse.GetValue(days) is < 1 or > 36500)
            {
                await error.WriteLineAsync("error: --days must be 1..36500");
                return Cli.Error;
            }

            try
            {
                using var ca = ClusterCertificates.LoadAuthority(folder);
                using var issued = ClusterCertificates.Issue(ca, role, name, parse.GetValue(sans) ?? [], TimeSpan.FromDays(parse.GetValue(days)));
                var file = Path.Combine(folder, name.Replace('*', 'X'));
                ClusterCertificates.WritePem(issued, file + ".crt", file + ".key");
                await parse.InvocationConfiguration.Output.WriteLineAsync($"{issued.Subject} in {file}.crt (key {file}.key); valid until {issued.NotAfter:yyyy-MM-dd}");
                return Cli.Ok;
            }
            catch (ArgumentException ex)
            {
                await error.WriteLineAsync($"error: {ex.Message.Split(" (Parameter", 2)[0]}");
                return Cli.Error;
            }
            catch (Exception ex) when (ex is IOException or CryptographicException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync($"error: cannot read the CA in {folder} (run `schedctl certs init --dir {folder}` first): {ex.Message}");
                return Cli.Error;
            }
        });
        return command;
    }
}
