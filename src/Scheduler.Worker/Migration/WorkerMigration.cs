namespace Scheduler.Worker.Migration;

/// <summary>Both ends of live migration on one node, and its stored checkpoints: what the master link hands those commands to.</summary>
internal sealed record WorkerMigration(MigrationTarget Target, MigrationSource Source, CheckpointShipper Checkpoints);
