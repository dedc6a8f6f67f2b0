using System.Runtime.InteropServices;
using Scheduler.Master.Store;

namespace Scheduler.Master.Security;

/// <summary>
/// The first admin token, so a cluster with auth on can be administered at all: the bearer string in
/// <see cref="SecurityOptions.BootstrapTokenFile"/> is stored (hashed) as token "bootstrap" when no
/// token has its id; a missing file is created with a fresh secret (readable by its owner only).
/// A stored token of that id is never replaced, so revoking it holds across restarts.
/// </summary>
internal static partial class BootstrapToken
{
    public static async Task<string> EnsureAsync(string file, ITokenStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var bearer = File.Exists(file) ? await ReadAsync(file, cancellationToken) : await CreateAsync(file, cancellationToken);
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

    private static async Task<string> ReadAsync(string file, CancellationToken cancellationToken) =>
        (await File.ReadAllTextAsync(file, cancellationToken)).Trim();

    /// <summary>
    /// Writes a fresh token to <paramref name="file"/> whole or not at all: masters started together with one
    /// file (an HA cluster on one host) must neither both create it nor read it half-written. The secret
    /// goes to a private temporary file that is then moved into place only if none is there yet; a master
    /// that loses that race uses the winner's token.
    /// </summary>
    private static async Task<string> CreateAsync(string file, CancellationToken cancellationToken)
    {
        var bearer = TokenSecret.Generate().Bearer;
        var full = Path.GetFullPath(file);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = $"{full}.{Guid.NewGuid():N}.tmp";
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

            Publish(temporary, full);
            return bearer;
        }
        catch (IOException) when (File.Exists(full))
        {
            return await ReadAsync(full, cancellationToken);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    /// <summary>
    /// Puts <paramref name="temporary"/> in place as <paramref name="file"/> only if no file is there, in one
    /// step; an <see cref="IOException"/> otherwise. On Unix, .NET's <c>File.Move</c> without overwrite checks
    /// and then renames, so two masters could both pass the check and the second rename replaced the first
    /// one's token (seen as two admin tokens in a test); <c>link(2)</c> fails with EEXIST instead.
    /// </summary>
    private static void Publish(string temporary, string file)
    {
        if (OperatingSystem.IsWindows())
        {
            File.Move(temporary, file, overwrite: false);
            return;
        }

        if (Link(temporary, file) != 0)
        {
            throw new IOException($"could not create {file} (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string existing, string created);
}
