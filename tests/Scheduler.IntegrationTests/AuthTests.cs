using Google.Protobuf.Reflection;
using Grpc.Core;
using Scheduler.Contracts.V1;
using Scheduler.Tests.Common;

namespace Scheduler.IntegrationTests;

/// <summary>
/// A real master started with --auth: every RPC refuses callers without a valid token
/// (UNAUTHENTICATED) and callers whose role the role table does not allow (PERMISSION_DENIED),
/// table-driven over the services' descriptors; denials reach the audit log. The cluster runs mutual TLS
/// (the test CA) as deployed ones do, so tokens are checked on top of TLS; one test covers workers on a
/// plaintext (--insecure) master, where a worker token is their only credential.
/// </summary>
[TestFixture]
[CancelAfter(180_000)]
public sealed class AuthTests
{
    private const string Admin = "admin";
    private const string Operator = "operator";
    private const string Submitter = "submitter";
    private const string Worker = "worker";

    /// <summary>The access policy users rely on, method by method (the README's role table); health and reflection are open.</summary>
    private static readonly Dictionary<string, string[]> Expected = new(StringComparer.Ordinal)
    {
        ["scheduler.v1.Jobs/Submit"] = [Admin, Submitter],
        ["scheduler.v1.Jobs/SubmitBatch"] = [Admin, Submitter],
        ["scheduler.v1.Jobs/Get"] = [Admin, Operator, Submitter],
        ["scheduler.v1.Jobs/List"] = [Admin, Operator, Submitter],
        ["scheduler.v1.Jobs/Cancel"] = [Admin, Submitter],
        ["scheduler.v1.Jobs/Watch"] = [Admin, Operator, Submitter],
        ["scheduler.v1.Jobs/GetLogs"] = [Admin, Operator, Submitter],
        ["scheduler.v1.Jobs/Suspend"] = [Admin, Submitter],
        ["scheduler.v1.Jobs/Resume"] = [Admin, Submitter],
        ["scheduler.v1.Admin/GetClusterStatus"] = [Admin, Operator],
        ["scheduler.v1.Admin/ListNodes"] = [Admin, Operator],
        ["scheduler.v1.Admin/DescribeNode"] = [Admin, Operator],
        ["scheduler.v1.Admin/CordonNode"] = [Admin, Operator],
        ["scheduler.v1.Admin/UncordonNode"] = [Admin, Operator],
        ["scheduler.v1.Admin/DrainNode"] = [Admin, Operator],
        ["scheduler.v1.Admin/GetLeader"] = [Admin, Operator, Submitter, Worker],
        ["scheduler.v1.Admin/MigrateJob"] = [Admin, Operator],
        ["scheduler.v1.Admin/SaveSnapshot"] = [Admin],
        ["scheduler.v1.Admin/RestoreSnapshot"] = [Admin],
        ["scheduler.v1.Admin/ExplainJob"] = [Admin, Operator, Submitter],
        ["scheduler.v1.Admin/CreateToken"] = [Admin],
        ["scheduler.v1.Admin/ListTokens"] = [Admin],
        ["scheduler.v1.Admin/RevokeToken"] = [Admin],
        ["scheduler.v1.WorkerGateway/Connect"] = [Admin, Worker],
    };

    private static readonly string[] AllRoles = [Admin, Operator, Submitter, Worker];

    private TestCluster _cluster = null!;
    private AuthApi _api = null!;
    private string _tokenDir = "";
    private readonly Dictionary<string, string> _tokens = [];

    /// <summary>Every method of every service the master serves: a new RPC appears here on its own.</summary>
    public static IEnumerable<MethodDescriptor> ServedMethods() =>
        new[] { Jobs.Descriptor, Contracts.V1.Admin.Descriptor, WorkerGateway.Descriptor }.SelectMany(s => s.Methods);

    [OneTimeSetUp]
    public async Task StartMaster()
    {
        _tokenDir = Path.Combine(Path.GetTempPath(), "scheduler-tests", $"auth-{Guid.NewGuid():N}");
        Directory.CreateDirectory(_tokenDir);
        _cluster = await TestCluster.StartAsync("auth", null, "--auth", "--bootstrap-token-file", Path.Combine(_tokenDir, "admin.token"));
        _api = new AuthApi(_cluster.MasterUrl);
        _tokens[Admin] = AuthApi.ReadToken(Path.Combine(_tokenDir, "admin.token"));
        _tokens[Operator] = await _api.CreateTokenAsync(_tokens[Admin], Operator, "ops");
        _tokens[Submitter] = await _api.CreateTokenAsync(_tokens[Admin], Submitter, "team-a ci", "team-a");
        _tokens[Worker] = await _api.CreateTokenAsync(_tokens[Admin], Worker, "gpu host");
    }

    [OneTimeTearDown]
    public async Task StopMaster()
    {
        _api?.Dispose();
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
        }

        if (Directory.Exists(_tokenDir))
        {
            Directory.Delete(_tokenDir, recursive: true);
        }
    }

    [Test]
    public void Every_served_rpc_has_an_expected_decision()
    {
        var missing = ServedMethods().Select(m => $"{m.Service.FullName}/{m.Name}").Where(n => !Expected.ContainsKey(n)).ToList();
        Assert.That(missing, Is.Empty, "decide who may call these and add them to the role table and the README");
    }

    [TestCaseSource(nameof(ServedMethods))]
    public async Task Calls_without_a_token_are_unauthenticated(MethodDescriptor method)
    {
        var status = await _api.CallForStatusAsync(method, token: null);
        Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), $"{method.FullName}: {status.Detail}");
    }

    [TestCaseSource(nameof(ServedMethods))]
    public async Task Calls_with_a_token_the_cluster_never_issued_are_unauthenticated(MethodDescriptor method)
    {
        var status = await _api.CallForStatusAsync(method, "tk-000000000000.not-a-real-secret");
        Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), $"{method.FullName}: {status.Detail}");
    }

    [TestCaseSource(nameof(ServedMethods))]
    public async Task Each_role_is_refused_exactly_where_the_role_table_says(MethodDescriptor method)
    {
        var name = $"{method.Service.FullName}/{method.Name}";
        var allowed = Expected.GetValueOrDefault(name, []);
        foreach (var role in AllRoles)
        {
            var status = await _api.CallForStatusAsync(method, _tokens[role]);
            if (!allowed.Contains(role))
            {
                Assert.That(status.StatusCode, Is.EqualTo(StatusCode.PermissionDenied), $"{role} should be refused {name}: {status.Detail}");
            }
            else if (method.Service == WorkerGateway.Descriptor)
            {
                // Let through by the role table, then refused by the gateway itself: over TLS only a node's
                // certificate opens it (tokens are how workers get in over plaintext; see the test below).
                Assert.That(status.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), $"{role} on {name}: {status.Detail}");
                Assert.That(status.Detail, Does.Contain("CN=node:NAME"), $"{role} should pass the role table on {name}");
            }
            else
            {
                Assert.That(status.StatusCode, Is.Not.EqualTo(StatusCode.PermissionDenied).And.Not.EqualTo(StatusCode.Unauthenticated), $"{role} should be let through {name}: {status.Detail}");
            }
        }
    }

    [Test]
    public async Task Over_tls_a_worker_registers_by_its_node_certificate_without_a_token()
    {
        // With TLS the worker's certificate (CN=node:ID, from the cluster CA) is its credential: no token needed.
        _cluster.StartWorker("certified");
        var admin = _api.Admin(_tokens[Admin]);
        await Eventually.TrueAsync(
            async () => (await admin.ListNodesAsync(new ListNodesRequest(), deadline: AuthApi.Deadline())).Nodes.Any(n => n.Id == "certified" && n.Health == NodeHealth.Ready),
            "the worker with a node certificate and no token to register");
    }

    [Test]
    public async Task Over_plaintext_a_worker_registers_with_a_worker_token_and_not_without_one()
    {
        // Without TLS a worker has no certificate to show: only a worker token lets it in.
        var file = Path.Combine(_tokenDir, "plaintext-admin.token");
        await using var plain = await TestCluster.StartAsync("authplain", null, "--auth", "--insecure", "--bootstrap-token-file", file);
        using var api = new AuthApi(plain.MasterUrl);
        var adminToken = AuthApi.ReadToken(file);
        var workerToken = await api.CreateTokenAsync(adminToken, Worker, "gpu host");
        var tokenless = plain.StartWorker("tokenless");
        plain.StartWorker("tokened", extraArgs: ["--token", workerToken]);
        var admin = api.Admin(adminToken);
        await Eventually.TrueAsync(
            async () => (await admin.ListNodesAsync(new ListNodesRequest(), deadline: AuthApi.Deadline())).Nodes.Any(n => n.Id == "tokened" && n.Health == NodeHealth.Ready),
            "the worker with a token to register");

        await Eventually.TrueAsync(() => tokenless.ReadLog().Contains("Unauthenticated", StringComparison.Ordinal), "the tokenless worker to be refused");
        var nodes = await admin.ListNodesAsync(new ListNodesRequest(), deadline: AuthApi.Deadline());
        Assert.That(nodes.Nodes.Select(n => n.Id), Does.Not.Contain("tokenless"));
    }

    [Test]
    public async Task Revoking_a_worker_token_ends_the_worker_s_open_stream_and_keeps_it_out()
    {
        var file = Path.Combine(_tokenDir, "revoke-worker-admin.token");
        await using var plain = await TestCluster.StartAsync("authrevoke", null, "--auth", "--insecure", "--bootstrap-token-file", file);
        using var api = new AuthApi(plain.MasterUrl);
        var adminToken = AuthApi.ReadToken(file);
        var workerToken = await api.CreateTokenAsync(adminToken, Worker, "soon revoked host");
        var worker = plain.StartWorker("revoked-host", extraArgs: ["--token", workerToken]);
        var admin = api.Admin(adminToken);
        await Eventually.TrueAsync(
            async () => (await admin.ListNodesAsync(new ListNodesRequest(), deadline: AuthApi.Deadline())).Nodes.Any(n => n.Id == "revoked-host" && n.Health == NodeHealth.Ready),
            "the worker with a token to register");

        var id = workerToken[..workerToken.IndexOf('.', StringComparison.Ordinal)];
        await admin.RevokeTokenAsync(new RevokeTokenRequest { Id = id }, deadline: AuthApi.Deadline());

        // The open stream is cut at once (the worker logs why), not when the worker next reconnects.
        await Eventually.TrueAsync(() => worker.ReadLog().Contains($"token {id} was revoked: this stream is closed", StringComparison.Ordinal), "the worker's stream to be ended");
        await Eventually.TrueAsync(
            async () => (await admin.ListNodesAsync(new ListNodesRequest(), deadline: AuthApi.Deadline())).Nodes.All(n => n.Id != "revoked-host" || n.Health != NodeHealth.Ready),
            "the node to be no longer ready");
    }

    [Test]
    public async Task Health_checks_need_no_token()
    {
        var health = new Grpc.Health.V1.Health.HealthClient(_api.Invoker);
        var response = await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest(), deadline: AuthApi.Deadline());
        Assert.That(response.Status, Is.EqualTo(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving));
    }

    [Test]
    public async Task A_revoked_token_is_refused_on_its_very_next_call()
    {
        var token = await _api.CreateTokenAsync(_tokens[Admin], Operator, "soon revoked");
        var jobs = _api.Jobs(token);
        await jobs.ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline());

        var id = token[..token.IndexOf('.', StringComparison.Ordinal)];
        var revoked = await _api.Admin(_tokens[Admin]).RevokeTokenAsync(new RevokeTokenRequest { Id = id }, deadline: AuthApi.Deadline());
        Assert.That(revoked.Revoked, Is.True);

        var error = await Assert.ThrowsAsync<RpcException>(async () => await jobs.ListAsync(new ListJobsRequest(), deadline: AuthApi.Deadline()));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated));
        Assert.That(error.Status.Detail, Does.Contain("revoked"));
    }

    [Test]
    public async Task Revoking_a_token_ends_the_watches_it_opened_at_once()
    {
        var token = await _api.CreateTokenAsync(_tokens[Admin], Operator, "watching");
        using var watch = _api.Jobs(token).Watch(new WatchJobsRequest(), deadline: DateTime.UtcNow.AddSeconds(90));
        Assert.That(await watch.ResponseStream.MoveNext(CancellationToken.None), Is.True, "the watch is open (its SYNCED event)");

        var id = token[..token.IndexOf('.', StringComparison.Ordinal)];
        await _api.Admin(_tokens[Admin]).RevokeTokenAsync(new RevokeTokenRequest { Id = id }, deadline: AuthApi.Deadline());

        var error = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await watch.ResponseStream.MoveNext(CancellationToken.None))
            {
            }
        });
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.Unauthenticated), error.Status.Detail);
        Assert.That(error.Status.Detail, Does.Contain($"token {id} was revoked"));
    }

    [Test]
    public async Task Tokens_are_listed_without_secrets_and_stored_only_as_hashes()
    {
        var secret = await _api.CreateTokenAsync(_tokens[Admin], Submitter, "listed", "team-l");
        var list = await _api.Admin(_tokens[Admin]).ListTokensAsync(new ListTokensRequest(), deadline: AuthApi.Deadline());
        var id = secret[..secret.IndexOf('.', StringComparison.Ordinal)];
        var token = list.Tokens.Single(t => t.Id == id);
        Assert.That((token.Name, token.Role, token.Tenant, token.Revoked), Is.EqualTo(("listed", Submitter, "team-l", false)));
        Assert.That(list.ToString(), Does.Not.Contain(secret[(id.Length + 1)..]));

        // The database holds the secret's SHA-256, never the secret.
        var db = await File.ReadAllBytesAsync(Path.Combine(_cluster.MasterDataDir, "scheduler.db"));
        var wal = Path.Combine(_cluster.MasterDataDir, "scheduler.db-wal");
        var bytes = File.Exists(wal) ? [.. db, .. await ReadSharedAsync(wal)] : db;
        Assert.That(System.Text.Encoding.ASCII.GetString(bytes), Does.Not.Contain(secret[(id.Length + 1)..]));
    }

    [Test]
    public async Task Denials_are_written_to_the_audit_log_with_who_what_and_outcome()
    {
        await _api.CallAsync(Jobs.Descriptor.FindMethodByName("Cancel"), _tokens[Operator]);
        var audit = Path.Combine(_cluster.MasterDataDir, "audit.jsonl");
        await Eventually.TrueAsync(
            async () => File.Exists(audit) && (await ReadSharedTextAsync(audit)).Split('\n').Any(l =>
                l.Contains("\"method\":\"/scheduler.v1.Jobs/Cancel\"", StringComparison.Ordinal)
                && l.Contains("\"outcome\":\"PermissionDenied\"", StringComparison.Ordinal)
                && l.Contains("(ops)", StringComparison.Ordinal)
                && l.Contains("\"at\":", StringComparison.Ordinal)),
            "the operator's refused cancel in audit.jsonl");
    }

    [Test]
    public async Task Only_admins_create_tokens_and_a_submitter_token_needs_a_tenant()
    {
        var refused = await Assert.ThrowsAsync<RpcException>(() => _api.CreateTokenAsync(_tokens[Operator], Admin, "escalate"));
        Assert.That(refused!.StatusCode, Is.EqualTo(StatusCode.PermissionDenied));

        var invalid = await Assert.ThrowsAsync<RpcException>(() => _api.CreateTokenAsync(_tokens[Admin], Submitter, "no tenant"));
        Assert.That(invalid!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        Assert.That(invalid.Status.Detail, Does.StartWith("tenant:"));
    }

    private static async Task<byte[]> ReadSharedAsync(string path)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        using var copy = new MemoryStream();
        await stream.CopyToAsync(copy);
        return copy.ToArray();
    }

    private static async Task<string> ReadSharedTextAsync(string path) => System.Text.Encoding.UTF8.GetString(await ReadSharedAsync(path));
}
