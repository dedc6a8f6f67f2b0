using System.Net;
using System.Text.Json;
using Scheduler.Contracts.V1;
using Scheduler.Master.Workers;
using static Scheduler.Master.Tests.LoopHarness;

namespace Scheduler.Master.Tests;

/// <summary>The autoscaling signal as the leader works it out: in the view (status, metrics) and POSTed to the webhook.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class AutoscalingTests
{
    [Test]
    public async Task Jobs_waiting_for_room_ask_for_a_host_of_their_model_in_the_status_and_at_the_webhook()
    {
        using var webhook = new HttpListener();
        var port = FreePort();
        webhook.Prefixes.Add($"http://127.0.0.1:{port}/hook/");
        webhook.Start();
        var options = new MasterOptions { AutoscaleIntervalSeconds = 30, AutoscaleWindowSeconds = 60, AutoscaleSpareHosts = 0, AutoscaleWebhook = $"http://127.0.0.1:{port}/hook/" };
        await using var harness = await StartAsync(options);
        var n1 = await harness.ConnectAsync("n1", 4);
        for (var i = 0; i < 6; i++)
        {
            await harness.SubmitAsync($"one-{i}", gpus: 1);
        }

        await harness.SettleAsync();
        Assert.That(harness.Loop.View.Scaling, Is.Empty, "not before the first interval");

        var received = webhook.GetContextAsync();
        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(31), n1);

        var advice = harness.Loop.View.Scaling.Single();
        Assert.That((advice.Model, advice.Delta, advice.Reason), Is.EqualTo(("A100", 1, "2 pending jobs do not fit on the free capacity")));
        var context = await received.WaitAsync(TimeSpan.FromSeconds(20));
        using var body = await JsonDocument.ParseAsync(context.Request.InputStream);
        context.Response.StatusCode = 204;
        context.Response.Close();
        Assert.That(context.Request.HttpMethod, Is.EqualTo("POST"));
        var posted = body.RootElement.GetProperty("advice").EnumerateArray().Single();
        Assert.That((posted.GetProperty("gpuModel").GetString(), posted.GetProperty("hostsDelta").GetInt32()), Is.EqualTo(("A100", 1)));
    }

    [Test]
    public async Task An_idle_cluster_is_advised_to_shrink_only_after_the_window_keeping_its_spares()
    {
        var options = new MasterOptions { AutoscaleIntervalSeconds = 30, AutoscaleWindowSeconds = 60, AutoscaleSpareHosts = 1 };
        await using var harness = await StartAsync(options);
        var nodes = new[] { await harness.ConnectAsync("n1", 4), await harness.ConnectAsync("n2", 4), await harness.ConnectAsync("n3", 4) };

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(31), nodes);
        Assert.That(harness.Loop.View.Scaling, Is.Empty, "one interval in, the window is not observed yet");

        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), nodes);
        var advice = harness.Loop.View.Scaling.Single();
        Assert.That((advice.Model, advice.Delta), Is.EqualTo(("A100", -2)), "three idle hosts, one kept spare");
    }

    [Test]
    public async Task A_waiting_gang_asks_for_hosts_for_every_replica_that_the_free_capacity_cannot_take()
    {
        var options = new MasterOptions { AutoscaleIntervalSeconds = 30, AutoscaleWindowSeconds = 60, AutoscaleSpareHosts = 0 };
        await using var harness = await StartAsync(options);
        var n1 = await harness.ConnectAsync("n1", 4);
        var n2 = await harness.ConnectAsync("n2", 4);

        // Five 2-GPU replicas: the two free 4-GPU hosts take four, the fifth needs one more host. Counted
        // as one 2-GPU job, the gang would seem to fit the free capacity and ask for nothing.
        var gang = await GangLoopTests.SubmitGangAsync(harness, "g", replicas: 5, gpus: 2);
        await harness.PassAsync(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(31), n1, n2);

        Assert.That(harness.Loop.View.Jobs[gang.Id].State, Is.EqualTo(JobState.Pending));
        var advice = harness.Loop.View.Scaling.Single();
        Assert.That((advice.Model, advice.Delta, advice.Reason), Is.EqualTo(("A100", 1, "1 pending jobs do not fit on the free capacity")));
    }

    private static int FreePort()
    {
        using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }
}
