#!/usr/bin/env bash
# Thin entry point; the real logic lives in .NET code (schedctl demo/up/sim). Twin: build.ps1.
#   ./build.sh build | test | demo | up | sim [args] | bench
set -euo pipefail
cd "$(dirname "$0")"
target="${1:-build}"; shift || true
config="${CONFIGURATION:-Release}"
schedctl="artifacts/bin/Scheduler.Cli/${config,,}/schedctl.dll"

build() { dotnet build Scheduler.sln -c "$config" -v quiet -nologo "$@"; }

case "$target" in
  build) build "$@" ;;
  test)
    deploy/ensure-etcd.sh
    deploy/ensure-chromium.sh
    build
    rm -rf artifacts/test-results
    dotnet test Scheduler.sln -c "$config" --no-build -nologo \
      --logger "trx" --logger "console;verbosity=minimal" --results-directory artifacts/test-results "$@" ;;
  demo) build; dotnet "$schedctl" demo "$@" ;;
  up) build; exec dotnet "$schedctl" up "$@" ;;  # exec: Ctrl+C and kill reach schedctl, which stops the cluster
  sim) build; dotnet "$schedctl" sim "$@" ;;
  bench)
    # ./build.sh bench [e2e|failover|migration|placement|core]: one benchmark, or all of them.
    build
    which="${1:-all}"; shift || true
    case "$which" in all|e2e) dotnet "$schedctl" bench ;; esac
    case "$which" in all|failover) dotnet "$schedctl" bench failover --kills 5 "$@" ;; esac
    case "$which" in all|migration) dotnet "$schedctl" bench migration "$@" ;; esac
    case "$which" in all|core)
      # Core placement speed (issue 11); `dotnet artifacts/bin/Scheduler.Core.Benchmarks/release/Scheduler.Core.Benchmarks.dll --bdn` for BenchmarkDotNet.
      dotnet "artifacts/bin/Scheduler.Core.Benchmarks/${config,,}/Scheduler.Core.Benchmarks.dll" "$@" ;;
    esac
    case "$which" in all|placement)
      # The twelve workloads of the FGD paper, its figures beside ours (README, Performance).
      dotnet "$schedctl" sim --suite ../shared/data/alibaba-gpu-v2023 "$@" ;;
    esac ;;
  *) echo "usage: ./build.sh build|test|demo|up|sim|bench" >&2; exit 2 ;;
esac
