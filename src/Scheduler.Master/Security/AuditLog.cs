using System.Text.Json;

namespace Scheduler.Master.Security;

/// <summary>
/// Who was refused what, and who changed which token, when: one JSON object per line appended to
/// <c>audit.jsonl</c> in the data folder (or <see cref="SecurityOptions.AuditFile"/>), and the same as a
/// structured log line. Writes are serialised; a write that fails is logged, never fails the call.
/// </summary>
internal sealed partial class AuditLog : IDisposable
{
    private readonly Lock _lock = new();
    private readonly StreamWriter? _writer;
    private readonly ILogger<AuditLog> _logger;
    private readonly TimeProvider _time;

    public AuditLog(string path, TimeProvider time, ILogger<AuditLog> logger)
    {
        _time = time;
        _logger = logger;
        Path = path;
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
            _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogAuditFileFailed(ex, path);
        }
    }

    public string Path { get; }

    /// <summary>Records one event; <paramref name="outcome"/> is a status code name (e.g. PermissionDenied) or "ok".</summary>
    public void Write(string who, string method, string? jobId, string outcome, string detail)
    {
        var at = _time.GetUtcNow();
        LogAudit(who, method, jobId ?? "", outcome, detail);
        if (_writer is null)
        {
            return;
        }

        var line = JsonSerializer.Serialize(new AuditEntry(at, who, method, jobId, outcome, detail), AuditJson.Options);
        lock (_lock)
        {
            try
            {
                _writer.WriteLine(line);
            }
            catch (IOException ex)
            {
                LogAuditFileFailed(ex, Path);
            }
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _writer?.Dispose();
        }
    }

    [LoggerMessage(EventId = 4001, Level = LogLevel.Warning, Message = "audit: {Who} {Method} job={JobId} {Outcome}: {Detail}")]
    private partial void LogAudit(string who, string method, string jobId, string outcome, string detail);

    [LoggerMessage(EventId = 4002, Level = LogLevel.Error, Message = "cannot write the audit log {Path}")]
    private partial void LogAuditFileFailed(Exception exception, string path);

    /// <summary>One line of the audit file.</summary>
    internal sealed record AuditEntry(DateTimeOffset At, string Who, string Method, string? JobId, string Outcome, string Detail);

    private static class AuditJson
    {
        public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
    }
}
