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
            bearer = await CreateAsync(file, cancellationToken);
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

    /// <summary>
    /// Writes a fresh token to a file of its own and links it in place only if <paramref name="file"/> is
    /// still missing, so masters started together on one file never read it half-written: the one that
    /// loses takes the winner's token.
    /// </summary>
    private static async Task<string> CreateAsync(string file, CancellationToken cancellationToken)
    {
        var bearer = TokenSecret.Generate().Bearer;
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        var temporary = $"{file}.{Guid.NewGuid():N}.tmp";
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            await using (var writer = new StreamWriter(temporary, options))
            {
                await writer.WriteLineAsync(bearer.AsMemory(), cancellationToken);
            }

            File.Move(temporary, file, overwrite: false);
            return bearer;
        }
        catch (IOException) when (File.Exists(file))
        {
            return (await File.ReadAllTextAsync(file, cancellationToken)).Trim();
        }
        finally
        {
            File.Delete(temporary);
        }
    }
}
