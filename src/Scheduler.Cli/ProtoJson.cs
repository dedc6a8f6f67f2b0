using System.Collections;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;

namespace Scheduler.Cli;

/// <summary>
/// Protobuf messages as JSON for scripts: the proto JSON field names, but 64-bit integers as numbers (the
/// proto3 mapping writes them as strings, so `jq '.memoryMib > 1024'` compared a string) and every field
/// present, an empty list as [] and an empty map as {} (the mapping leaves defaults out, so an empty list
/// printed as {}). Unset optional fields and messages are left out; enums by name, timestamps as RFC 3339.
/// </summary>
internal static class ProtoJson
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true };

    public static string Format(IMessage message) => Write(w => WriteMessage(w, message));

    /// <summary>An object with one property holding a list of messages, e.g. {"jobs": [...]}.</summary>
    public static string FormatList(string property, IEnumerable<IMessage> messages) =>
        Write(w =>
        {
            w.WriteStartObject();
            w.WriteStartArray(property);
            foreach (var message in messages)
            {
                WriteMessage(w, message);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });

    private static string Write(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, Indented))
        {
            write(writer);
        }

        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    private static void WriteMessage(Utf8JsonWriter w, IMessage message)
    {
        if (message is Timestamp timestamp)
        {
            w.WriteStringValue(timestamp.ToDateTimeOffset().ToString("yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'", CultureInfo.InvariantCulture));
            return;
        }

        w.WriteStartObject();
        foreach (var field in message.Descriptor.Fields.InFieldNumberOrder())
        {
            if (field.HasPresence && !field.Accessor.HasValue(message))
            {
                continue;
            }

            w.WritePropertyName(field.JsonName);
            var value = field.Accessor.GetValue(message);
            if (field.IsMap)
            {
                var valueField = field.MessageType.FindFieldByNumber(2);
                w.WriteStartObject();
                foreach (DictionaryEntry entry in (IDictionary)value)
                {
                    w.WritePropertyName(Convert.ToString(entry.Key, CultureInfo.InvariantCulture)!);
                    WriteValue(w, valueField, entry.Value!);
                }

                w.WriteEndObject();
            }
            else if (field.IsRepeated)
            {
                w.WriteStartArray();
                foreach (var item in (IList)value)
                {
                    WriteValue(w, field, item);
                }

                w.WriteEndArray();
            }
            else
            {
                WriteValue(w, field, value);
            }
        }

        w.WriteEndObject();
    }

    private static void WriteValue(Utf8JsonWriter w, FieldDescriptor field, object value)
    {
        switch (field.FieldType)
        {
            case FieldType.Bool:
                w.WriteBooleanValue((bool)value);
                break;
            case FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32:
                w.WriteNumberValue((int)value);
                break;
            case FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64:
                w.WriteNumberValue((long)value);
                break;
            case FieldType.UInt32 or FieldType.Fixed32:
                w.WriteNumberValue((uint)value);
                break;
            case FieldType.UInt64 or FieldType.Fixed64:
                w.WriteNumberValue((ulong)value);
                break;
            case FieldType.Float or FieldType.Double:
                var number = Convert.ToDouble(value, CultureInfo.InvariantCulture);
                if (double.IsFinite(number))
                {
                    w.WriteNumberValue(number);
                }
                else
                {
                    w.WriteStringValue(number.ToString(CultureInfo.InvariantCulture));
                }

                break;
            case FieldType.String:
                w.WriteStringValue((string)value);
                break;
            case FieldType.Bytes:
                w.WriteBase64StringValue(((ByteString)value).Span);
                break;
            case FieldType.Enum:
                var code = Convert.ToInt32(value, CultureInfo.InvariantCulture);
                if (field.EnumType.FindValueByNumber(code) is { } known)
                {
                    w.WriteStringValue(known.Name);
                }
                else
                {
                    w.WriteNumberValue(code);
                }

                break;
            default:
                WriteMessage(w, (IMessage)value);
                break;
        }
    }
}
