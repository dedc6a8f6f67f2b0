namespace Scheduler.Worker.Agents;

/// <summary>The last bytes of a log file; <see cref="Truncated"/> when the file holds more before them.</summary>
internal sealed record LogTail(byte[] Data, bool Truncated)
{
    public int Length => Data.Length;

    /// <summary>
    /// Up to <paramref name="maxBytes"/> from the end of <paramref name="path"/>, or null when there is
    /// no such file. A rotation may truncate the file while it is read: what could be read is returned.
    /// </summary>
    public static LogTail? Read(string path, int maxBytes)
    {
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        using (stream)
        {
            var start = Math.Max(0, stream.Length - maxBytes);
            stream.Position = start;
            var buffer = new byte[Math.Min(maxBytes, stream.Length)];
            var read = 0;
            while (read < buffer.Length && stream.Read(buffer, read, buffer.Length - read) is var n and > 0)
            {
                read += n;
            }

            return new LogTail(read == buffer.Length ? buffer : buffer[..read], start > 0);
        }
    }
}
