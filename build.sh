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
    # ./build.sh bench [e2e|fanin|memory|failover|migration|placement|core] [flags]: one benchmark
    # (its full size, flags passed on), or all of them at modest sizes that finish in minutes on 2 cores.
    build
    which="${1:-all}"; shift || true
    case "$which" in
      all)
        # A benchmark that exits non-zero (jobs that failed, nodes that never converged) has said so
        # in its figures; the others still run.
        dotnet "$schedctl" bench --nodes 1000 --jobs 1000 || echo "bench e2e exited $?" >&2
        dotnet "$schedctl" bench fanin --nodes 2000 --seconds 30 || echo "bench fanin exited $?" >&2
        dotnet "$schedctl" bench memory --nodes 500 --jobs 2000 --long-seconds 120 || echo "bench memory exited $?" >&2 ;;
      e2e) dotnet "$schedctl" bench "$@" ;;
      fanin) dotnet "$schedctl" bench fanin "$@" ;;
      memory) dotnet "$schedctl" bench memory "$@" ;;
    esac
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
  *) echo "usage: ./build.sh build|test|demo|up|sim|bench [e2e|fanin|memory|failover|migration|placement|core]" >&2; exit 2 ;;
esac
