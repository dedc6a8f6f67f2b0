using System.Text.Json;
using System.Text.Json.Serialization;

namespace Scheduler.Master.Store;

/// <summary>
/// The job status row's JSON, generated at build time: the same text as the reflection serializer with the
/// web defaults writes and reads (checked by a test), without its per-call metadata walk. Serializing the row
/// by reflection was a fifth of the master's loop when every job is written four times (submitted, placed,
/// running, exited; dotnet-trace of bench e2e).
/// </summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(JobStatusRow))]
internal sealed partial class StoreJson : JsonSerializerContext;
