#!/usr/bin/env pwsh
# Thin twin of build.sh; the real logic lives in .NET code (schedctl demo/up/sim).
#   ./build.ps1 build | test | demo | up | sim [args] | bench
param([string]$Target = "build", [Parameter(ValueFromRemainingArguments)][string[]]$Rest = @())
$ErrorActionPreference = "Stop"
Set-Location $PSScriptRoot
$config = if ($env:CONFIGURATION) { $env:CONFIGURATION } else { "Release" }
$schedctl = "artifacts/bin/Scheduler.Cli/$($config.ToLower())/schedctl.dll"
function Build { dotnet build Scheduler.sln -c $config -v quiet -nologo @args; if ($LASTEXITCODE) { exit $LASTEXITCODE } }
switch ($Target) {
  "build" { Build @Rest }
  "test" {
    if (-not (Get-Command etcd -ErrorAction SilentlyContinue)) { if ($IsLinux) { bash deploy/ensure-etcd.sh } else { Write-Host "etcd not found: install etcd (Debian package etcd-server) for the tests that need it" } }
    if (-not (Get-Command chromium -ErrorAction SilentlyContinue)) { if ($IsLinux) { bash deploy/ensure-chromium.sh } else { Write-Host "chromium not found: install Chromium (Debian package chromium) for the status page test" } }
    Build
    Remove-Item -Recurse -Force artifacts/test-results -ErrorAction SilentlyContinue
    dotnet test Scheduler.sln -c $config --no-build -nologo --logger trx --logger "console;verbosity=minimal" --results-directory artifacts/test-results @Rest
  }
  "demo" { Build; dotnet $schedctl demo @Rest }
  "up" { Build; dotnet $schedctl up @Rest }
  "sim" { Build; dotnet $schedctl sim @Rest }
  "bench" {
    # ./build.ps1 bench [e2e|fanin|memory|failover|migration|placement|core] [flags]: one benchmark
    # (its full size, flags passed on), or all of them at modest sizes that finish in minutes on 2 cores.
    Build
    $which = if ($Rest.Count -gt 0) { $Rest[0] } else { "all" }
    $more = if ($Rest.Count -gt 1) { $Rest[1..($Rest.Count - 1)] } else { @() }
    if ($which -eq "all") {
      dotnet $schedctl bench --nodes 1000 --jobs 1000
      dotnet $schedctl bench fanin --nodes 2000 --seconds 30
      dotnet $schedctl bench memory --nodes 500 --jobs 2000 --long-seconds 120
    }
    if ($which -eq "e2e") { dotnet $schedctl bench @more }
    if ($which -eq "fanin") { dotnet $schedctl bench fanin @more }
    if ($which -eq "memory") { dotnet $schedctl bench memory @more }
    if ($which -in "all", "failover") { dotnet $schedctl bench failover --kills 5 @more }
    if ($which -in "all", "migration") { dotnet $schedctl bench migration @more }
    if ($which -in "all", "core") { dotnet "artifacts/bin/Scheduler.Core.Benchmarks/$($config.ToLower())/Scheduler.Core.Benchmarks.dll" @more }
    if ($which -in "all", "placement") {
      # The twelve workloads of the FGD paper, its figures beside ours (README, Performance).
      dotnet $schedctl sim --suite ../shared/data/alibaba-gpu-v2023 @more
    }
  }
  default { Write-Error "usage: ./build.ps1 build|test|demo|up|sim|bench [e2e|fanin|memory|failover|migration|placement|core]"; exit 2 }
}
exit $LASTEXITCODE
