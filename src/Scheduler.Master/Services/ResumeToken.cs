using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Grpc.Core;

namespace Scheduler.Master.Services;

/// <summary>Where a watch stood: the change version it last saw, within the leader term that numbered it. Opaque to clients.</summary>
internal readonly record struct ResumeToken(long Epoch, long Version)
{
    private const string Prefix = "w1:";

    public string Encode() =>
        Base64Url.EncodeToString(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{Prefix}{Epoch}:{Version}")));

    /// <summary>The token a client sent back; INVALID_ARGUMENT naming resume_token when it is not one a master issued.</summary>
    public static ResumeToken Parse(string text)
    {
        try
        {
            var parts = Encoding.ASCII.GetString(Base64Url.DecodeFromChars(text)).Split(':');
            if (parts.Length == 3 && parts[0] + ":" == Prefix
                && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var epoch)
                && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var version))
            {
                return new ResumeToken(epoch, version);
            }
        }
        catch (FormatException)
        {
        }

        throw new RpcException(new Status(StatusCode.InvalidArgument, "resume_token is not a token this scheduler issued (pass JobEvent.resume_token back unchanged, or none)"));
    }
}
