//! A MariaDB server of a test's own, from the Debian package: the paths of its programs and
//! the creation of a data dir. The tests that start servers (an outage, a Galera cluster) add
//! their own options and lifecycles on top.

use std::path::Path;
use std::process::{Command, Stdio};

/// `mariadbd` on its own: no option files, the data in `dir/data`, listening on 127.0.0.1:`port`
/// only, its socket and pid file in `dir`, running as `user`. Callers add the rest (log file,
/// buffer sizes, Galera).
pub fn mariadbd(dir: &Path, port: u16, user: &str) -> Command {
    let mut command = Command::new(MARIADBD);
    command
        .arg("--no-defaults")
        .arg(format!("--user={user}"))
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg("--skip-name-resolve");
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
    let output = Command::new(INSTALL_DB)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data_dir.display()))
        .arg(format!("--user={user}"))
        .arg("--auth-root-authentication-method=normal")
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
