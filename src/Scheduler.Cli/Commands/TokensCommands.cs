using System.CommandLine;

namespace Scheduler.Cli.Commands;

/// <summary>`schedctl tokens create|list|revoke`: bearer tokens for masters started with --auth (admin only).</summary>
internal static class TokensCommands
{
    public static Command Create()
    {
        var tokens = new Command("tokens", "Create, list and revoke bearer tokens (admin only)");
        tokens.Aliases.Add("token");
        var list = new Command("list", "List tokens (never their secrets)");
        var listAction = Cli.Action(async (parse, client, printer, ct) =>
        {
            printer.Tokens(await client.ListTokensAsync(ct));
            return Cli.Ok;
        });
        list.SetAction(listAction);
        tokens.Add(CreateToken());
        tokens.Add(list);
        tokens.Add(Revoke());
        tokens.SetAction(listAction);
        return tokens;
    }

    private static Command CreateToken()
    {
        var role = new Option<string>("--role") { Description = "admin, operator, submitter or worker", Required = true }
            .AcceptOnlyFromAmong("admin", "operator", "submitter", "worker");
        var tenant = new Option<string?>("--tenant") { Description = "The tenant of a submitter token (required for submitters, refused for the others)" };
        var name = new Option<string>("--name") { Description = "Who or what holds it, for the list and the audit log", Required = true };
        var create = new Command("create", "Create a token and print its secret (shown once: keep it)") { role, tenant, name };
        create.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var created = await client.CreateTokenAsync(parse.GetValue(name)!, parse.GetValue(role)!, parse.GetValue(tenant), ct);
            if (printer.IsJson)
            {
                printer.Message(created);
            }
            else
            {
                printer.Line($"token {created.Token.Id} ({created.Token.Role}{(created.Token.Tenant.Length > 0 ? ", tenant " + created.Token.Tenant : "")}) created; its secret, shown once:");
                printer.Line(created.Secret);
            }

            return Cli.Ok;
        }));
        return create;
    }

    private static Command Revoke()
    {
        var id = new Argument<string>("id") { Description = "Token id (tk-...)" };
        var revoke = new Command("revoke", "Revoke a token: every master refuses it from its next call") { id };
        revoke.SetAction(Cli.Action(async (parse, client, printer, ct) =>
        {
            var token = await client.RevokeTokenAsync(parse.GetValue(id)!, ct);
            if (printer.IsJson)
            {
                printer.Message(token);
            }
            else
            {
                printer.Line($"token {token.Id} ({token.Name}) revoked");
            }

            return Cli.Ok;
        }));
        return revoke;
    }
}
