namespace Scheduler.Worker.Migration;

/// <summary>Both ends of live migration on one node: what the master link hands migration commands to.</summary>
internal sealed record WorkerMigration(MigrationTarget Target, MigrationSource Source);
