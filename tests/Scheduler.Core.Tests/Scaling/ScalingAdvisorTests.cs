using Scheduler.Core.Cluster;
using Scheduler.Core.Placement;
using Scheduler.Core.Resources;
using Scheduler.Core.Scaling;

namespace Scheduler.Core.Tests.Scaling;

/// <summary>
/// The autoscaling signal on small replayed traces whose right answer is worked out by hand: jobs
/// arrive (placed best-fit when they fit, else they wait) and leave at given minutes; the advice is
/// read at given moments.
/// </summary>
[TestFixture]
public sealed class ScalingAdvisorTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 29, 8, 0, 0, TimeSpan.Zero);

    [Test]
    public void Jobs_that_do_not_fit_ask_for_as_many_new_hosts_of_their_model_as_packing_them_needs()
    {
        var replay = new Replay(A100: 2, H100: 1, Cpu: 1);

        // 20 one-GPU A100 jobs fill both A100 hosts (16 GPUs) and leave 4 waiting; then three 4-GPU
        // A100 jobs wait too. Packed largest first on new 8-GPU hosts: [4,4] and [4,1,1,1,1] = 2 hosts.
        for (var i = 0; i < 20; i++)
        {
            replay.Arrive(0, $"one-{i}", gpus: 1, model: "A100");
        }

        for (var i = 0; i < 3; i++)
        {
            replay.Arrive(0, $"four-{i}", gpus: 4, model: "A100");
        }

        var advice = replay.AdviseAt(1);

        Assert.That(replay.Pending, Has.Count.EqualTo(7));
        Assert.That(advice.Select(a => (a.Model, a.Delta)), Is.EqualTo(new[] { ("A100", 2) }), "nothing removed before the window was observed");
        Assert.That(advice.Single().Reason, Is.EqualTo("7 pending jobs do not fit on the free capacity"));
    }

    [Test]
    public void A_job_no_host_shape_can_take_is_noted_and_adds_nothing()
    {
        var replay = new Replay(A100: 1, H100: 0, Cpu: 0);
        replay.Arrive(0, "huge", gpus: 16, model: "A100");

        var advice = replay.AdviseAt(1);

        Assert.That(advice.Select(a => (a.Model, a.Delta, a.Reason)), Is.EqualTo(new[] { ("", 0, "1 pending jobs fit no host shape in the cluster") }));
    }

    [Test]
    public void Hosts_not_needed_at_the_windows_peak_are_advised_away_keeping_a_spare_and_only_idle_ones()
    {
        var replay = new Replay(A100: 2, H100: 3, Cpu: 1);

        // H100: one 8-GPU job from minute 2 to 5, then nothing: the peak needs 1 host; with a spare,
        // 3 - 1 - 1 = 1 host can go. A100: busy throughout (one job per host): nothing to remove.
        replay.Arrive(0, "a-0", gpus: 8, model: "A100");
        replay.Arrive(0, "a-1", gpus: 8, model: "A100");
        replay.Arrive(2, "h-0", gpus: 8, model: "H100");
        replay.Leave(5, "h-0");

        Assert.That(replay.AdviseAt(9), Is.Empty, "the window (10 min) is not observed yet");
        Assert.That(replay.AdviseAt(10).Select(a => (a.Model, a.Delta)), Is.EqualTo(new[] { ("H100", -1) }));

        // Once the peak slides out of the window, the H100 need is 0: 3 - 0 - 1 spare = 2. The CPU-only
        // host is the spare of its kind.
        var later = replay.AdviseAt(16);
        Assert.That(later.Select(a => (a.Model, a.Delta)), Is.EqualTo(new[] { ("H100", -2) }));
        Assert.That(later.Single().Reason, Is.EqualTo("peak use over the last 10 min needs 0 of 3 hosts (1 kept spare)"));
    }

    [Test]
    public void Waiting_jobs_of_a_kind_keep_its_hosts_from_being_advised_away()
    {
        var replay = new Replay(A100: 1, H100: 2, Cpu: 0);
        replay.Arrive(0, "a-0", gpus: 8, model: "A100");

        // An H100 host is idle all window, but this A100 job waits: A100 grows, H100 shrinks by 1.
        replay.Arrive(11, "a-1", gpus: 4, model: "A100");
        var advice = replay.AdviseAt(12);

        Assert.That(advice.Select(a => (a.Model, a.Delta)), Is.EqualTo(new[] { ("A100", 1), ("H100", -1) }));
    }

    [Test]
    public void A_waiting_gang_asks_for_hosts_for_all_its_replicas_beyond_the_free_capacity()
    {
        var replay = new Replay(A100: 1, H100: 1, Cpu: 0);

        // Four replicas of 4 A100 GPUs: the free A100 host takes two, the other two fill one new host.
        replay.Wait("train", gpus: 4, model: "A100", replicas: 4);
        var advice = replay.AdviseAt(1);

        Assert.That(advice.Select(a => (a.Model, a.Delta, a.Reason)), Is.EqualTo(new[] { ("A100", 1, "1 pending jobs (2 replicas) do not fit on the free capacity") }));
    }

    [Test]
    public void Gang_replicas_and_single_jobs_are_packed_together_largest_first()
    {
        var replay = new Replay(A100: 1, H100: 0, Cpu: 0);

        // Three replicas of 8 GPUs, then five 2-GPU jobs: the free host takes one replica; two new hosts
        // the other two; the five 2-GPU jobs need two more hosts (4 + 1 jobs of 2).
        replay.Wait("train", gpus: 8, model: "A100", replicas: 3);
        for (var i = 0; i < 5; i++)
        {
            replay.Wait($"two-{i}", gpus: 2, model: "A100");
        }

        var advice = replay.AdviseAt(1);

        Assert.That(advice.Select(a => (a.Model, a.Delta, a.Reason)), Is.EqualTo(new[] { ("A100", 4, "6 pending jobs (7 replicas) do not fit on the free capacity") }));
    }

    [Test]
    public void A_gang_whose_last_replicas_no_host_shape_takes_adds_nothing_and_gives_back_the_room_its_first_replicas_took()
    {
        var replay = new Replay(A100: 2, H100: 0, Cpu: 0);
        replay.Label("a100-1", "zone", "a");

        // Only a100-1 is in zone a, and a new host would be shaped like a100-0, without the label: the
        // gang's first two replicas fit a100-1's free GPUs but the third fits nowhere, so none counts, and
        // the 2-GPU job for zone a still fits a100-1.
        replay.Wait("train", gpus: 4, model: "A100", replicas: 3, zone: "a");
        replay.Wait("small", gpus: 2, model: "A100", zone: "a");
        var advice = replay.AdviseAt(1);

        Assert.That(advice.Select(a => (a.Model, a.Delta, a.Reason)), Is.EqualTo(new[] { ("", 0, "1 pending jobs fit no host shape in the cluster") }));
    }

    /// <summary>A cluster fed minute by minute: arrivals placed best-fit or left waiting, departures freeing their room.</summary>
    private sealed class Replay
    {
        private readonly List<NodeState> _nodes = [];
        private readonly PlacementEngine _engine = new(new BestFitPolicy());
        private readonly ScalingAdvisor _advisor = new(new ScalingOptions { Window = TimeSpan.FromMinutes(10), SpareHosts = 1 });
        private readonly List<(int Minute, Action Apply)> _events = [];
        private int _now = -1;

        public Replay(int A100, int H100, int Cpu)
        {
            AddHosts("a100", A100, "A100");
            AddHosts("h100", H100, "H100");
            for (var i = 0; i < Cpu; i++)
            {
                _nodes.Add(new NodeState($"cpu-{i}", 32_000, 131_072, []));
            }
        }

        public List<PendingDemand> Pending { get; } = [];

        /// <summary>A job (or gang) that waits from the start.</summary>
        public void Wait(string job, int gpus, string model, int replicas = 1, string? zone = null)
        {
            var selector = zone is null ? new Dictionary<string, string>() : new Dictionary<string, string> { ["zone"] = zone };
            Pending.Add(new PendingDemand(new JobDemand(job, new ResourceRequest(1000, 4096, gpus), [model], selector), replicas));
        }

        public void Label(string nodeId, string key, string value)
        {
            var i = _nodes.FindIndex(n => n.Id == nodeId);
            _nodes[i] = new NodeState(nodeId, _nodes[i].CpuCapacity, _nodes[i].MemoryCapacity, _nodes[i].Gpus, new Dictionary<string, string> { [key] = value });
        }

        public void Arrive(int minute, string job, int gpus, string model) => _events.Add((minute, () =>
        {
            var demand = new JobDemand(job, new ResourceRequest(1000, 4096, gpus), [model], new Dictionary<string, string>());
            if (_engine.FindAllocation(demand, _nodes) is { } allocation)
            {
                _nodes.Single(n => n.Id == allocation.NodeId).Allocate(allocation);
            }
            else
            {
                Pending.Add(new PendingDemand(demand));
            }
        }));

        public void Leave(int minute, string job) => _events.Add((minute, () => _nodes.Single(n => n.Allocations.ContainsKey(job)).Release(job)));

        /// <summary>Replays up to <paramref name="minute"/>, observing the cluster every minute, then asks for advice.</summary>
        public IReadOnlyList<ScalingAdvice> AdviseAt(int minute)
        {
            for (var m = _now + 1; m <= minute; m++)
            {
                foreach (var (_, apply) in _events.Where(e => e.Minute == m))
                {
                    apply();
                }

                _advisor.Observe(Start.AddMinutes(m), _nodes);
            }

            _now = minute;
            return _advisor.Advise(Start.AddMinutes(minute), _nodes, Pending);
        }

        private void AddHosts(string prefix, int count, string model)
        {
            for (var i = 0; i < count; i++)
            {
                var gpus = Enumerable.Range(0, 8).Select(g => new GpuDevice(g, $"GPU-{prefix}-{i}-{g}", model, 81_920)).ToArray();
                _nodes.Add(new NodeState($"{prefix}-{i}", 64_000, 524_288, gpus));
            }
        }
    }
}
