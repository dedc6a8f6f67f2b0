using System.Collections.Concurrent;
using System.Text;
using Grpc.Core;

namespace Scheduler.Tests.Common.Fuzz;

/// <summary>
/// What a fuzz run got back: a count per (RPC, status code), and the first detail seen for each
/// pair, so a failure names an example request's answer.
/// </summary>
public sealed class FuzzTally
{
    private readonly ConcurrentDictionary<(string Rpc, StatusCode Code), int> _counts = new();
    private readonly ConcurrentDictionary<(string Rpc, StatusCode Code), string> _examples = new();

    public void Add(string rpc, StatusCode code, string detail)
    {
        _counts.AddOrUpdate((rpc, code), 1, (_, n) => n + 1);
        _examples.TryAdd((rpc, code), detail);
    }

    private readonly ConcurrentDictionary<string, int> _connectionLosses = new();

    /// <summary>Records a call of <paramref name="rpc"/> sent again because its connection was closed under it.</summary>
    public void ConnectionLost(string rpc) => _connectionLosses.AddOrUpdate(rpc, 1, (_, n) => n + 1);

    public int Total => _counts.Values.Sum();

    public int CountOf(string rpc) => _counts.Where(c => c.Key.Rpc == rpc).Sum(c => c.Value);

    /// <summary>How many calls of <paramref name="rpc"/> were answered with <paramref name="code"/>.</summary>
    public int CountOf(string rpc, StatusCode code) => _counts.GetValueOrDefault((rpc, code));

    /// <summary>Every answer with one of <paramref name="codes"/>, with an example detail each.</summary>
    public IReadOnlyList<string> Having(params StatusCode[] codes) =>
        [.. _counts.Where(c => codes.Contains(c.Key.Code)).Select(c => $"{c.Key.Rpc}: {c.Value} x {c.Key.Code} (e.g. \"{_examples[c.Key]}\")")];

    /// <summary>One line per RPC: how many requests, and each status with its count.</summary>
    public string Table()
    {
        var text = new StringBuilder();
        foreach (var rpc in _counts.Keys.Select(k => k.Rpc).Distinct().Order(StringComparer.Ordinal))
        {
            var codes = _counts.Where(c => c.Key.Rpc == rpc).OrderByDescending(c => c.Value)
                .Select(c => $"{c.Key.Code}={c.Value}");
            var resent = _connectionLosses.TryGetValue(rpc, out var losses) ? $"  (resent after a closed connection: {losses})" : "";
            text.AppendLine($"{rpc,-40} {CountOf(rpc),7}  {string.Join(' ', codes)}{resent}");
        }

        return text.ToString();
    }
}
