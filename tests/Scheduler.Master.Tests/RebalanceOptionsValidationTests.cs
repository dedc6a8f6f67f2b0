using Scheduler.Master.Scheduling;

namespace Scheduler.Master.Tests;

public sealed class RebalanceOptionsValidationTests
{
    [Test]
    public void Accepts_the_defaults_and_a_bound_equal_to_the_run_size()
    {
        Assert.That(new RebalanceOptionsValidation().Validate(null, new MasterOptions()).Succeeded, Is.True);
        Assert.That(new RebalanceOptionsValidation().Validate(null, new MasterOptions { Rebalance = RebalanceModes.Fragmentation, RebalanceMaxPerRun = 4, RebalanceMaxInFlight = 4 }).Succeeded, Is.True);
    }

    [TestCase("maxload", 60, 2, 4, "--rebalance (Master:Rebalance) must be one of off, max-load, fragmentation; got 'maxload'")]
    [TestCase("Off", 60, 2, 4, "--rebalance (Master:Rebalance) must be one of off, max-load, fragmentation; got 'Off'")]
    [TestCase("max-load", 0, 2, 4, "--rebalance-interval-s (Master:RebalanceIntervalSeconds) must be 1 to 86400 seconds; got 0")]
    [TestCase("max-load", 60, 0, 4, "--rebalance-max-per-run (Master:RebalanceMaxPerRun) must be 1 to 1000 migrations; got 0")]
    [TestCase("max-load", 60, 2, -1, "--rebalance-max-in-flight (Master:RebalanceMaxInFlight) must be 1 to 1000 migrations; got -1")]
    [TestCase("max-load", 60, 5, 4, "--rebalance-max-per-run (5) cannot exceed --rebalance-max-in-flight (4): a run never starts more migrations than may be under way")]
    public void Names_the_flag_that_is_wrong(string mode, int intervalS, int maxPerRun, int maxInFlight, string error)
    {
        var options = new MasterOptions { Rebalance = mode, RebalanceIntervalSeconds = intervalS, RebalanceMaxPerRun = maxPerRun, RebalanceMaxInFlight = maxInFlight };

        var result = new RebalanceOptionsValidation().Validate(null, options);

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Is.EqualTo(new[] { error }));
    }
}
