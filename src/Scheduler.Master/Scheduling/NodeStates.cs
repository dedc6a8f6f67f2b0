using System.Diagnostics.CodeAnalysis;
using Scheduler.Core.Cluster;

namespace Scheduler.Master.Scheduling;

/// <summary>
/// The nodes' live states as the scheduling pass reads them, over the loop's own node table: no copy
/// per pass. Enumerates in node-id order, as the table does.
/// </summary>
internal sealed class NodeStates(SortedDictionary<string, NodeEntry> nodes) : IReadOnlyDictionary<string, NodeState>
{
    public int Count => nodes.Count;

    public IEnumerable<string> Keys => nodes.Keys;

    public IEnumerable<NodeState> Values => nodes.Values.Select(n => n.State);

    public NodeState this[string key] => nodes[key].State;

    public bool ContainsKey(string key) => nodes.ContainsKey(key);

    public bool TryGetValue(string key, [MaybeNullWhen(false)] out NodeState value)
    {
        if (nodes.TryGetValue(key, out var entry))
        {
            value = entry.State;
            return true;
        }

        value = null;
        return false;
    }

    public IEnumerator<KeyValuePair<string, NodeState>> GetEnumerator()
    {
        foreach (var (id, entry) in nodes)
        {
            yield return new KeyValuePair<string, NodeState>(id, entry.State);
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
