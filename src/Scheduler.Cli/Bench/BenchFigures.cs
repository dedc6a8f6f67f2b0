using System.Text;
using System.Text.Json;

namespace Scheduler.Cli.Bench;

/// <summary>
/// A benchmark's figures, written as the ONE JSON object on its last line (scripts read that line;
/// people read the lines above it). Keys keep the order they were added in.
/// </summary>
internal sealed class BenchFigures
{
    private readonly List<(string Key, object Value)> _fields = [];

    public BenchFigures Add(string key, object value)
    {
        _fields.Add((key, value));
        return this;
    }

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            foreach (var (key, value) in _fields)
            {
                switch (value)
                {
                    case string s:
                        json.WriteString(key, s);
                        break;
                    case bool b:
                        json.WriteBoolean(key, b);
                        break;
                    case int i:
                        json.WriteNumber(key, i);
                        break;
                    case long l:
                        json.WriteNumber(key, l);
                        break;
                    case double d:
                        json.WriteNumber(key, double.IsFinite(d) ? Math.Round(d, 2) : 0);
                        break;
                    default:
                        json.WriteString(key, Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture));
                        break;
                }
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }
}
