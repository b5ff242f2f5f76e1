#!/usr/bin/env bash
# Figures for README "Scaling out": a 3-node Galera cluster behind HAProxy (as in
# tests/cluster), two app instances.
#   - failover: 10 node kills under mixed traffic; failed page views and writes, slowest ones;
#   - throughput: signed-in page views a second through one instance and through two;
#   - the cost of causal session reads (wsrep_sync_wait) on the session read alone.
# Needs what the cluster tests need (mariadb-server, galera-4, rsync, haproxy). Takes about
# five minutes. Usage: bench/cluster.sh [--release]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=()
[ "${1:-}" = "--release" ] && profile=(--release)

CLUSTER_SCENARIOS=failover,figures CLUSTER_FAILOVER_TRIES="${CLUSTER_FAILOVER_TRIES:-10}" \
    cargo test "${profile[@]}" --locked --test cluster -- --nocapture 2>&1 \
    | grep -E '^(cluster:|failover try|figures:|--- scenario|test result)'
