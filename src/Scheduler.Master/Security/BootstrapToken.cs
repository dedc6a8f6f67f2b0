using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>
/// The first admin token, so a cluster with auth on can be administered at all: the bearer string in
/// <see cref="SecurityOptions.BootstrapTokenFile"/> is stored (hashed) as token "bootstrap" when no
/// token has its id; a missing file is created with a fresh secret (readable by its owner only).
/// A stored token of that id is never replaced, so revoking it holds across restarts.
/// </summary>
internal static class BootstrapToken
{
    public static async Task<string> EnsureAsync(string file, ITokenStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        string bearer;
        if (File.Exists(file))
        {
            bearer = (await File.ReadAllTextAsync(file, cancellationToken)).Trim();
        }
        else
        {
            bearer = TokenSecret.Generate().Bearer;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            await using var writer = new StreamWriter(file, options);
            await writer.WriteLineAsync(bearer.AsMemory(), cancellationToken);
        }

        if (!TokenSecret.TryParse(bearer, out var id, out var secret))
        {
            throw new StoreException($"{file} does not hold a token (tk-ID.SECRET): delete it and the master writes a new one");
        }

        var existing = await store.FindAsync(id, cancellationToken);
        if (existing is null)
        {
            await store.CreateAsync(
                new TokenRecord { Id = id, Name = "bootstrap", Role = RoleNames.Admin, SecretHash = TokenSecret.Hash(secret), CreatedAt = time.GetUtcNow() },
                cancellationToken);
        }

        return id;
    }
}
