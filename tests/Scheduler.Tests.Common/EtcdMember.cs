using System.Globalization;

namespace Scheduler.Tests.Common;

/// <summary>One etcd member of an <see cref="EtcdCluster"/>: its name, ports, data folder and process while it runs.</summary>
public sealed class EtcdMember(string name, string dataDir, int clientPort, int peerPort)
{
    public string Name { get; } = name;

    public string DataDir { get; } = dataDir;

    public string ClientUrl { get; } = "http://127.0.0.1:" + clientPort.ToString(CultureInfo.InvariantCulture);

    public string PeerUrl { get; } = "http://127.0.0.1:" + peerPort.ToString(CultureInfo.InvariantCulture);

    public string LogPath => DataDir + ".log";

    public int? Pid => Process?.Pid;

    internal ManagedProcess? Process { get; set; }

    /// <summary>Stops the member gracefully (SIGTERM, then SIGKILL after <paramref name="grace"/>); its data stays.</summary>
    public async Task StopAsync(TimeSpan? grace = null)
    {
        if (Process is { } process)
        {
            await process.StopAsync(grace ?? TimeSpan.FromSeconds(5));
            await process.DisposeAsync();
            Process = null;
        }
    }

    /// <summary>Crashes the member (SIGKILL); its data stays.</summary>
    public async Task KillAsync()
    {
        if (Process is { } process)
        {
            await process.KillAsync();
            await process.DisposeAsync();
            Process = null;
        }
    }
}
