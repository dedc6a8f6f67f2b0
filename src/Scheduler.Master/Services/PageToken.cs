using System.Buffers.Text;
using System.Globalization;
using System.Text;
using Grpc.Core;

namespace Scheduler.Master.Services;

/// <summary>
/// Where the next page of a List starts: below a job sequence, for one states filter. Sequences never
/// change, so pages stay stable while jobs are submitted and change state. Opaque to clients.
/// </summary>
internal static class PageToken
{
    private const string Prefix = "p1";

    public static string Encode(string filter, long beforeSequence) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{Prefix}:{beforeSequence}:{filter}")));

    /// <summary>The sequence the page starts below; INVALID_ARGUMENT naming page_token when it is not one List issued for this filter.</summary>
    public static long Parse(string token, string filter)
    {
        string[] parts;
        try
        {
            parts = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(token)).Split(':', 3);
        }
        catch (FormatException)
        {
            parts = [];
        }

        if (parts.Length != 3 || parts[0] != Prefix
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var before))
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "page_token is not a token List issued (pass next_page_token back unchanged)"));
        }

        if (parts[2] != filter)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "page_token was issued for a different states filter; list again from the first page"));
        }

        return before;
    }
}
