//! A throwaway 3-node MariaDB Galera cluster and an HAProxy in front of it, from the Debian
//! packages (`mariadb-server`, `galera-4`, `rsync`, `haproxy`), all on loopback ports.
//!
//! Dropping the [`Cluster`] kills every process it started and removes its temp dir, also when
//! a test fails (a panic unwinds through the drop).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use test_support::mariadb::{install_system_tables, mariadbd, MARIADBD};
use test_support::spare_ports;

const GALERA_PROVIDER: &str = "/usr/lib/galera/libgalera_smm.so";
const HAPROXY: &str = "haproxy";

/// How long a node may take to join (state transfer included).
const JOIN_DEADLINE: Duration = Duration::from_secs(60);

/// Galera's failure detection. With the defaults (5 s suspect, 15 s inactive) every commit in
/// the cluster stalls for about 6 s after a node dies, twice the app's 3 s operation timeout;
/// a 1 s suspect timeout (fine on a LAN) keeps the stall well below it. Documented in the
/// store crate's clustering guide.
const FAILURE_DETECTION: &str = "evs.suspect_timeout=PT1S;evs.inactive_timeout=PT3S;\
     evs.keepalive_period=PT0.3S;evs.inactive_check_period=PT0.3S;evs.install_timeout=PT3S";

/// The user HAProxy's `mysql-check` logs in as (no password, no privileges).
const CHECK_USER: &str = "haproxy_check";

/// Fail with one line saying how to install what is missing: never skip.
pub fn require_tools() {
    let mut missing = Vec::new();
    if !Path::new(GALERA_PROVIDER).exists() {
        missing.push("galera-4");
    }
    if Command::new(HAPROXY)
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
    {
        missing.push("haproxy");
    }
    if Command::new("rsync")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .map_or(true, |s| !s.success())
    {
        missing.push("rsync");
    }
    if !Path::new(MARIADBD).exists() {
        missing.push("mariadb-server");
    }
    assert!(
        missing.is_empty(),
        "the cluster tests need {}: apt-get install -y --no-install-recommends {}",
        missing.join(", "),
        missing.join(" ")
    );
}

/// One Galera node: its ports, its dirs, its process.
#[derive(Debug)]
struct Node {
    name: String,
    dir: PathBuf,
    port: u16,
    gcomm_port: u16,
    ist_port: u16,
    sst_port: u16,
    /// Where to resume after a crash (`uuid:seqno`), found by `--wsrep-recover`.
    start_position: Option<String>,
    child: Option<Child>,
}

impl Node {
    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    /// Where the rsync daemon of this node's state transfers logs (see `node_command`).
    fn rsync_log(&self) -> PathBuf {
        self.dir.join("rsyncd.log")
    }

    fn url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }
}

/// Three Galera nodes and an HAProxy in front of them.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    nodes: Vec<Node>,
    haproxy_port: u16,
    haproxy: Option<Child>,
}

impl Cluster {
    /// Bootstrap the first node, join the two others (rsync state transfer), start HAProxy.
    pub async fn start() -> Self {
        require_tools();
        let dir = std::env::temp_dir().join(format!(
            "member-portal-cluster-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ports = spare_ports(13).into_iter();
        let mut port = || ports.next().unwrap();
        let mut cluster = Self {
            nodes: (1..=3)
                .map(|i| Node {
                    name: format!("node{i}"),
                    dir: dir.join(format!("node{i}")),
                    port: port(),
                    gcomm_port: port(),
                    ist_port: port(),
                    sst_port: port(),
                    start_position: None,
                    child: None,
                })
                .collect(),
            dir,
            haproxy_port: port(),
            haproxy: None,
        };
        for node in &cluster.nodes {
            std::fs::create_dir_all(node.data_dir()).unwrap();
        }
        // Only the first node needs system tables: the others get everything by state transfer.
        install_system_tables(&cluster.nodes[0].data_dir(), "mysql");
        cluster.give_to_mysql_user();
        let started = Instant::now();
        cluster.spawn_node(0, true);
        cluster.await_synced(0).await;
        cluster
            .node_conn(0)
            .await
            .query_drop(format!("CREATE USER '{CHECK_USER}'@'127.0.0.1'"))
            .await
            .unwrap();
        // One joiner at a time: the donor serves one state transfer at a time anyway, and
        // joining together costs extra membership rounds.
        for i in 1..cluster.nodes.len() {
            cluster.spawn_node(i, false);
            cluster.await_synced(i).await;
        }
        cluster.start_haproxy().await;
        eprintln!(
            "cluster: 3 Galera nodes synced and HAProxy up in {:?}",
            started.elapsed()
        );
        cluster
    }

    /// `mysql://root@127.0.0.1:PORT` of node `i` (no database).
    pub fn node_url(&self, i: usize) -> String {
        self.nodes[i].url()
    }

    /// `mysql://root@127.0.0.1:PORT` of HAProxy (no database).
    pub fn haproxy_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.haproxy_port)
    }

    /// A connection straight to node `i`.
    pub async fn node_conn(&self, i: usize) -> mysql_async::Conn {
        mysql_async::Conn::from_url(self.node_url(i))
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.nodes[i].name))
    }

    /// Whether node `i`'s process is running.
    pub fn is_running(&self, i: usize) -> bool {
        self.nodes[i].child.is_some()
    }

    /// Kill node `i` (SIGKILL: a crash, not a shutdown) and wait for the process to end.
    pub fn kill_node(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Start node `i` again after [`kill_node`](Self::kill_node) and wait until it has
    /// caught up (incremental state transfer) and is synced.
    pub async fn restart_node(&mut self, i: usize) {
        assert!(
            self.nodes[i].child.is_none(),
            "{} is running",
            self.nodes[i].name
        );
        // A crashed node does not know how far it got (its state file says seqno -1): find it
        // in InnoDB first, as the packaged service does, so that it catches up by incremental
        // state transfer instead of copying everything again.
        let position = self.recover_position(i);
        self.spawn_node(i, false);
        self.await_synced(i).await;
        if position.is_none() {
            eprintln!(
                "{}: position not recovered; it rejoined by full state transfer",
                self.nodes[i].name
            );
        }
    }

    /// Make sure every node runs (after a scenario that killed one failed half way).
    pub async fn heal(&mut self) {
        for i in 0..self.nodes.len() {
            if !self.is_running(i) {
                self.restart_node(i).await;
            }
        }
        for i in 0..self.nodes.len() {
            self.await_synced(i).await;
        }
    }

    /// Wait until node `i` accepts connections, is synced and is part of a primary component
    /// of the full cluster size.
    pub async fn await_synced(&mut self, i: usize) {
        let started = Instant::now();
        let mut last;
        loop {
            if let Some(status) = self.nodes[i]
                .child
                .as_mut()
                .and_then(|c| c.try_wait().unwrap())
            {
                self.nodes[i].child = None;
                panic!(
                    "{} exited while joining ({status}):\n{}\nrsync daemon's log:\n{}",
                    self.nodes[i].name,
                    tail(&self.nodes[i].error_log(), 40),
                    tail(&self.nodes[i].rsync_log(), 10)
                );
            }
            match wsrep_status(&self.nodes[i].url()).await {
                Ok((state, ready, size)) if state == "Synced" && ready == "ON" => {
                    let running = self.nodes.iter().filter(|n| n.child.is_some()).count();
                    if size == running {
                        return;
                    }
                    last = format!("synced, cluster size {size} of {running}");
                }
                Ok((state, ready, size)) => {
                    last = format!("state {state}, ready {ready}, size {size}");
                }
                Err(e) => last = e.to_string(),
            }
            assert!(
                started.elapsed() < JOIN_DEADLINE,
                "{} not synced within {JOIN_DEADLINE:?} ({last}):\n{}",
                self.nodes[i].name,
                tail(&self.nodes[i].error_log(), 40)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// rsync state transfer runs as the server's user and must write the data dirs: as root,
    /// the nodes run as `mysql`, which must own them. (Not as root, they run as the current
    /// user, who owns them already.)
    fn give_to_mysql_user(&self) {
        let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
        if root {
            let status = Command::new("chown")
                .arg("-R")
                .arg("mysql:mysql")
                .arg(&self.dir)
                .status()
                .unwrap();
            assert!(status.success(), "chown -R mysql:mysql failed: {status}");
        }
    }

    /// Run `mariadbd --wsrep-recover` on node `i`'s data dir and return the position it
    /// found (`uuid:seqno`), which the next start passes on.
    fn recover_position(&mut self, i: usize) -> Option<String> {
        let log = self.nodes[i].dir.join("recover.log");
        let status = self
            .node_command(i)
            .arg("--wsrep-recover")
            .arg(format!("--log-error={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("could not run {MARIADBD} --wsrep-recover: {e}"));
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let position = text
            .lines()
            .filter_map(|l| l.split("WSREP: Recovered position: ").nth(1))
            .next_back()
            .map(|p| p.trim().to_owned())
            .filter(|p| status.success() && !p.ends_with(":-1"));
        self.nodes[i].start_position.clone_from(&position);
        position
    }

    fn spawn_node(&mut self, i: usize, new_cluster: bool) {
        let mut command = self.node_command(i);
        command.arg(format!(
            "--log-error={}",
            self.nodes[i].error_log().display()
        ));
        if let Some(position) = self.nodes[i].start_position.take() {
            command.arg(format!("--wsrep-start-position={position}"));
        }
        if new_cluster {
            command.arg("--wsrep-new-cluster");
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {MARIADBD}: {e}"));
        self.nodes[i].child = Some(child);
    }

    /// `mariadbd` with node `i`'s options (no log file yet).
    fn node_command(&self, i: usize) -> Command {
        let peers: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.gcomm_port))
            .collect();
        let node = &self.nodes[i];
        let mut command = mariadbd(&node.dir, node.port, "mysql");
        command
            .arg("--innodb-buffer-pool-size=32M")
            .arg("--max-connections=500")
            .arg("--binlog-format=ROW")
            .arg("--innodb-autoinc-lock-mode=2")
            .arg("--default-storage-engine=InnoDB")
            .arg("--wsrep-on=ON")
            .arg(format!("--wsrep-provider={GALERA_PROVIDER}"))
            .arg(format!(
                "--wsrep-cluster-address=gcomm://{}",
                peers.join(",")
            ))
            .arg(format!("--wsrep-node-name={}", node.name))
            .arg(format!(
                "--wsrep-node-address=127.0.0.1:{}",
                node.gcomm_port
            ))
            .arg(format!(
                "--wsrep-provider-options=base_port={};ist.recv_addr=127.0.0.1:{};\
                 gcache.size=64M;{FAILURE_DETECTION}",
                node.gcomm_port, node.ist_port
            ))
            .arg("--wsrep-sst-method=rsync")
            .arg(format!(
                "--wsrep-sst-receive-address=127.0.0.1:{}",
                node.sst_port
            ))
            // The SST script gives its rsync daemon a log file only here; without one, why
            // the daemon stopped (say, its port taken) goes to a syslog nobody reads.
            .env("MYSQL_TMP_DIR", &node.dir);
        command
    }

    async fn start_haproxy(&mut self) {
        let servers: String = self
            .nodes
            .iter()
            .map(|n| format!("    server {} 127.0.0.1:{} check\n", n.name, n.port))
            .collect();
        // TCP mode; a MySQL login check every 500 ms, two failures take a node out, and its
        // open connections are cut at once so clients notice and reconnect elsewhere.
        let config = format!(
            "global\n    maxconn 2000\n\
             defaults\n    mode tcp\n    timeout connect 1s\n    timeout client 1h\n    \
             timeout server 1h\n    retries 2\n    option redispatch\n\
             listen galera\n    bind 127.0.0.1:{port}\n    balance leastconn\n    \
             option mysql-check user {CHECK_USER} post-41\n    \
             default-server inter 500ms fall 2 rise 2 on-marked-down shutdown-sessions\n\
             {servers}",
            port = self.haproxy_port
        );
        let path = self.dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(HAPROXY)
            .arg("-db") // foreground, a child of the test
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(self.dir.join("haproxy.log"))
                    .map_or(Stdio::null(), Stdio::from),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {HAPROXY}: {e}"));
        self.haproxy = Some(child);
        let started = Instant::now();
        loop {
            match wsrep_status(&self.haproxy_url()).await {
                Ok(_) => return,
                Err(e) => assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "HAProxy does not pass connections on within 10 s: {e}\n{}",
                    tail(&self.dir.join("haproxy.log"), 20)
                ),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.haproxy.take() {
            child.kill().ok();
            child.wait().ok();
        }
        for i in 0..self.nodes.len() {
            self.kill_node(i);
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// `wsrep_local_state_comment`, `wsrep_ready` and `wsrep_cluster_size` of the server at `url`.
async fn wsrep_status(url: &str) -> Result<(String, String, usize), mysql_async::Error> {
    let mut conn = mysql_async::Conn::from_url(url).await?;
    let rows: Vec<(String, String)> = conn
        .query(
            "SHOW STATUS WHERE Variable_name IN \
             ('wsrep_local_state_comment', 'wsrep_ready', 'wsrep_cluster_size')",
        )
        .await?;
    conn.disconnect().await.ok();
    let get = |name: &str| {
        rows.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Ok((
        get("wsrep_local_state_comment"),
        get("wsrep_ready"),
        get("wsrep_cluster_size").parse().unwrap_or(0),
    ))
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
