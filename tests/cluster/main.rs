//! Design §7, "Scaling out": app instances → HAProxy → a 3-node MariaDB Galera cluster.
//!
//! One cluster (three `mariadbd` nodes with the Galera provider, and HAProxy in front) is
//! started per run of this test binary and shared by the scenarios, which run in sequence,
//! each on a database of its own. Each scenario says what it checks; a failure names its
//! scenario. The cluster is torn down (processes killed, temp dir removed) when the test ends,
//! failed or not.
//!
//! The app instances and the browsers that drive them are `tests/app`'s, from the
//! `test-support` crate; here are only the cluster (`galera`) and the scenarios.
//!
//! Needs the Debian packages `mariadb-server`, `galera-4`, `rsync` and `haproxy` (`.ci/run`
//! installs them); without them the test fails with one line saying so.
//!
//! `CLUSTER_FAILOVER_TRIES` (default 2) sets how many nodes the failover scenario kills; the
//! README's figures come from `bench/cluster.sh`, which runs it with 10.
//! `CLUSTER_SCENARIOS=failover,direct` runs only the scenarios with those ids; the `figures`
//! scenario (throughput, for the README) runs only when named there.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod galera;
mod scenarios;

use std::future::Future;
use std::time::Instant;

use galera::Cluster;

/// The scenario that measures the README's figures (run by `bench/cluster.sh`).
const FIGURES: &str = "figures";

/// Run one scenario, announcing it, and say which one failed if it panics. When
/// `CLUSTER_SCENARIOS` is set (ids, comma-separated), only those run (for `bench/` and for
/// working on one scenario); unset, all run.
async fn scenario<F: Future<Output = ()>>(id: &str, name: &str, run: F) {
    let only = std::env::var("CLUSTER_SCENARIOS").ok();
    let selected = match &only {
        Some(only) => only.split(',').any(|s| s.trim() == id),
        // The figures for the README are not a test: only when asked for.
        None => id != FIGURES,
    };
    if !selected {
        eprintln!("--- scenario {id} not selected (CLUSTER_SCENARIOS={only:?})");
        return;
    }
    eprintln!("--- scenario {id}: {name}");
    let started = Instant::now();
    struct Announce<'a>(&'a str);
    impl Drop for Announce<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!("--- scenario FAILED: {}", self.0);
            }
        }
    }
    let guard = Announce(name);
    run.await;
    drop(guard);
    eprintln!("--- scenario {id} ok in {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn galera_cluster_behind_haproxy() {
    test_support::init_tracing();

    let mut cluster = Cluster::start().await;

    scenario(
        "ryw",
        "read-your-writes across nodes under load",
        scenarios::read_your_writes_across_nodes(&cluster),
    )
    .await;
    scenario(
        "revoke",
        "sign-out, password change and revoke through one node, effective through the others",
        scenarios::revocations_across_nodes(&cluster),
    )
    .await;
    scenario(
        "throttle",
        "concurrent writes to one throttle row through two nodes",
        scenarios::throttle_row_conflicts(&cluster),
    )
    .await;
    scenario(
        "session",
        "concurrent writes to one session through two nodes",
        scenarios::session_row_conflicts(&cluster),
    )
    .await;
    scenario(
        "cleanup",
        "cleanup tasks on every node at once",
        scenarios::cleanup_everywhere(&cluster),
    )
    .await;
    scenario(
        "mail",
        "two instances on two nodes send each mail of one outbox exactly once",
        scenarios::mail_once_across_nodes(&cluster),
    )
    .await;
    scenario(
        "failover",
        "a node killed under mixed traffic behind HAProxy",
        scenarios::node_killed_behind_haproxy(&mut cluster),
    )
    .await;
    cluster.heal().await;
    scenario(
        FIGURES,
        "throughput with one and two instances, and the cost of causal reads",
        scenarios::throughput(&cluster),
    )
    .await;
    scenario(
        "direct",
        "a node killed under an instance attached to it directly",
        scenarios::node_killed_under_direct_instance(&mut cluster),
    )
    .await;
}
