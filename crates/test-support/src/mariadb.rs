//! MariaDB servers of a test's own, from the Debian package (`mariadb-server`): the paths of
//! its programs, the creation of a data dir and the base command every server here starts
//! from ([`mariadbd`]); and [`ThrowawayMariaDb`], one server in a temp dir on a spare port,
//! killed, restarted and frozen at will. Tests that run servers of another kind (a Galera
//! node) add their own options and lifecycles on top of [`mariadbd`].

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::spare_port;

/// `mariadbd` on its own: no option files, the data in `dir/data`, listening on 127.0.0.1:`port`
/// only, its socket and pid file in `dir`, running as `user`. Callers add the rest (log file,
/// buffer sizes, Galera).
pub fn mariadbd(dir: &Path, port: u16, user: &str) -> Command {
    let mut command = mariadbd_resolving_names(dir, port, user);
    command.arg("--skip-name-resolve");
    command
}

/// [`mariadbd`] as Debian configures it: client addresses are resolved to names, so a TCP
/// connection from 127.0.0.1 is `root@localhost`.
pub fn mariadbd_resolving_names(dir: &Path, port: u16, user: &str) -> Command {
    let mut command = Command::new(MARIADBD);
    command
        .arg("--no-defaults")
        .arg(format!("--user={user}"))
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()));
    command
}

/// The server program.
pub const MARIADBD: &str = "/usr/sbin/mariadbd";

/// The program that creates a data dir's system tables.
const INSTALL_DB: &str = "mariadb-install-db";

/// Create the system tables in `data_dir` (no test database), with root logging in without a
/// password, for a server that will run as `user`. Panics, with the tool's output, if that
/// fails.
pub fn install_system_tables(data_dir: &Path, user: &str) {
    install(data_dir, user, "normal");
}

/// [`install_system_tables`] as Debian's package does it: root signs in through the unix
/// socket only (`unix_socket` authentication).
pub fn install_system_tables_as_debian_does(data_dir: &Path, user: &str) {
    install(data_dir, user, "socket");
}

fn install(data_dir: &Path, user: &str, root_authentication: &str) {
    let output = Command::new(INSTALL_DB)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data_dir.display()))
        .arg(format!("--user={user}"))
        .arg(format!(
            "--auth-root-authentication-method={root_authentication}"
        ))
        .arg("--skip-test-db")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("could not run {INSTALL_DB}: {e}"));
    assert!(
        output.status.success(),
        "{INSTALL_DB} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// How long the server may take to accept connections.
const STARTUP_DEADLINE: Duration = Duration::from_secs(30);

/// A MariaDB server of the test's own. Dropping it kills the server and removes its data dir,
/// also when the test fails.
#[derive(Debug)]
pub struct ThrowawayMariaDb {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl ThrowawayMariaDb {
    /// A fresh data dir (system tables only) and a spare port; not started yet.
    pub fn install() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "member-portal-mariadb-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        // From here on Drop cleans up the dir.
        let db = Self {
            port: spare_port(),
            dir,
            child: None,
        };
        install_system_tables(&db.data_dir(), "root");
        db
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn error_log(&self) -> PathBuf {
        self.dir.join("error.log")
    }

    /// `mysql://root@127.0.0.1:PORT` (no database).
    pub fn server_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// Start `mariadbd` on the data dir and port, and wait until it accepts connections.
    pub async fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = mariadbd(&self.dir, self.port, "root")
            .arg(format!("--log-error={}", self.error_log().display()))
            .arg("--innodb-buffer-pool-size=16M")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {MARIADBD}: {e}"));
        self.child = Some(child);
        self.wait_until_ready().await;
    }

    async fn wait_until_ready(&mut self) {
        let opts = mysql_async::Opts::from_url(&self.server_url()).unwrap();
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                self.child = None;
                panic!(
                    "mariadbd exited early ({status}):\n{}",
                    read_lossy(&self.error_log())
                );
            }
            match mysql_async::Conn::new(opts.clone()).await {
                Ok(conn) => {
                    conn.disconnect().await.ok();
                    return;
                }
                Err(e) if started.elapsed() > STARTUP_DEADLINE => panic!(
                    "mariadbd did not accept connections within {STARTUP_DEADLINE:?}: {e}\n{}",
                    read_lossy(&self.error_log())
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Freeze the server (SIGSTOP): it still completes TCP handshakes (the kernel does) but
    /// never answers, like a hung or unreachable host. Returns once every thread has stopped:
    /// the signal stops a process's threads one by one as each gets a core, and until then a
    /// thread woken by a query can still answer it.
    pub async fn freeze(&self) {
        self.signal("STOP");
        let pid = self.child.as_ref().expect("running").id();
        let started = Instant::now();
        while !all_threads_stopped(pid) {
            assert!(
                started.elapsed() < STARTUP_DEADLINE,
                "mariadbd did not stop within {STARTUP_DEADLINE:?} of SIGSTOP"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Let a frozen server go on (SIGCONT).
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {pid}: {status}");
    }

    /// Kill the server (an outage, not a shutdown) and wait for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

impl Drop for ThrowawayMariaDb {
    fn drop(&mut self) {
        self.kill();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// Whether every thread of process `pid` is stopped (state `T` in `/proc/PID/task/*/stat`).
/// io_uring's kernel workers (`iou-wrk-…`) never stop for a signal and run no SQL: skipped.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.filter_map(Result::ok).all(|task| {
        std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
            // `pid (name) state …`: the name may hold spaces and parentheses.
            let Some((head, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            head.contains("(iou-") || rest.trim_start().starts_with('T')
        })
    })
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}
