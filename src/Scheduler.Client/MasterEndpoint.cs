using Grpc.Net.Client;
using Scheduler.Contracts.V1;

namespace Scheduler.Client;

/// <summary>A master address with its channel and typed stubs.</summary>
internal sealed record MasterEndpoint(Uri Address, GrpcChannel Channel, Jobs.JobsClient Jobs, Admin.AdminClient Admin);
