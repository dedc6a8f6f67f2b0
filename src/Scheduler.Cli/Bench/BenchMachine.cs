using System.Runtime.InteropServices;

namespace Scheduler.Cli.Bench;

/// <summary>The machine a benchmark ran on, printed with its figures: a figure without its machine means little.</summary>
internal sealed record BenchMachine(string Cpu, int Cores, string Os, string Dotnet)
{
    public static BenchMachine Current() => new(CpuModel(), Environment.ProcessorCount, RuntimeInformation.OSDescription.Trim(), RuntimeInformation.FrameworkDescription);

    public override string ToString() => $"machine: {Cpu}, {Cores} cores, {Os}, {Dotnet}";

    /// <summary>Adds the machine's fields to a benchmark's JSON figures.</summary>
    public void AddTo(BenchFigures figures) => figures
        .Add("cpu", Cpu)
        .Add("cores", Cores)
        .Add("os", Os)
        .Add("dotnet", Dotnet);

    private static string CpuModel()
    {
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            if (line?.IndexOf(':', StringComparison.Ordinal) is int colon and > 0)
            {
                return line[(colon + 1)..].Trim();
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return RuntimeInformation.ProcessArchitecture.ToString();
    }
}
