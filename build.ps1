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
    Build
    Remove-Item -Recurse -Force artifacts/test-results -ErrorAction SilentlyContinue
    dotnet test Scheduler.sln -c $config --no-build -nologo --logger trx --logger "console;verbosity=minimal" --results-directory artifacts/test-results @Rest
  }
  "demo" { Build; dotnet $schedctl demo @Rest }
  "up" { Build; dotnet $schedctl up @Rest }
  "sim" { Build; dotnet $schedctl sim @Rest }
  "bench" {
    Build
    dotnet $schedctl bench
    dotnet $schedctl bench failover --kills 5
    foreach ($w in "default", "gpushare40", "multigpu20", "gpuspec10") {
      dotnet $schedctl sim --nodes ../shared/data/alibaba-gpu-v2023/openb_node_list_gpu_node.csv --tasks "../shared/data/alibaba-gpu-v2023/openb_pod_list_$w.csv" --policy all @Rest
    }
  }
  default { Write-Error "usage: ./build.ps1 build|test|demo|up|sim|bench"; exit 2 }
}
exit $LASTEXITCODE
