#!/usr/bin/env bash
# Makes sure an `etcd` binary is on PATH for the tests and `schedctl up --ha`.
# Installs Debian's etcd-server package when we are root; otherwise says what is missing and
# returns 0, so the build goes on: the tests that need etcd then fail under CI=true (naming the
# package) and are skipped elsewhere.
set -euo pipefail
if command -v etcd >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "etcd not found: installing Debian package etcd-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
  # The package's service cannot start in containers and would take 2379/2380 where it can;
  # tests start their own members on free ports.
  command -v etcd >/dev/null 2>&1 || { echo "etcd-server installed but no etcd on PATH" >&2; exit 1; }
else
  echo "etcd not found and not root: install the Debian package etcd-server (tests that need etcd fail under CI=true and are skipped otherwise)" >&2
fi
