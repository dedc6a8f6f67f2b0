namespace Scheduler.Master.Tests;

/// <summary>
/// Every master these tests start, in this process or as a child process (which inherits the
/// environment), checks the state it keeps per change against the same state built from scratch
/// (SCHEDULER_CHECK_INVARIANTS: the running-job table and tenant usage, at every pass) and fails loudly on a difference.
/// </summary>
[SetUpFixture]
public sealed class InvariantChecks
{
    [OneTimeSetUp]
    public void TurnOn() => Environment.SetEnvironmentVariable("SCHEDULER_CHECK_INVARIANTS", "1");
}
