using Scheduler.Cli.Local;

namespace Scheduler.Cli.Tests;

/// <summary>Tests of `up --ha` need the etcd binary: without it they fail under CI and are ignored elsewhere, naming the package.</summary>
internal static class RequireEtcd
{
    public static void OrIgnore()
    {
        if (EtcdBinary.Find() is not null)
        {
            return;
        }

        const string Why = "etcd is not installed: install the Debian package etcd-server (./build.sh test installs it when run as root)";
        if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase))
        {
            Assert.Fail(Why);
        }

        Assert.Ignore(Why);
    }
}
