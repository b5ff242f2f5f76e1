//! A newcomer's first start on a MariaDB set up the way Debian and Ubuntu set it up (root
//! signs in through the unix socket only): the app says what to do, in one line, and the
//! command it names makes the default `DATABASE_URL` work.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use test_support::binary;
use test_support::mariadb::{install_system_tables_as_debian_does, mariadbd_resolving_names};
use test_support::spare_port;

/// A `mariadbd` of the test's own, installed as Debian installs it; killed and removed on Drop.
struct DebianLikeServer {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl DebianLikeServer {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!(
            "member-portal-first-start-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        install_system_tables_as_debian_does(&dir.join("data"), "root");
        let port = spare_port();
        let child = mariadbd_resolving_names(&dir, port, "root")
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .arg("--innodb-buffer-pool-size=16M")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = Self { dir, port, child };
        let started = Instant::now();
        while !server.as_root_over_the_socket("SELECT 1").status.success() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "mariadbd did not start: {}",
                std::fs::read_to_string(server.dir.join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    /// `sql` run by the `mariadb` client as the OS user root, through the socket: what
    /// `sudo mariadb -e …` does on Debian.
    fn as_root_over_the_socket(&self, sql: &str) -> Output {
        Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .arg("-uroot")
            .arg("-e")
            .arg(sql)
            .output()
            .unwrap()
    }
}

impl Drop for DebianLikeServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

#[test]
fn the_first_start_on_debians_mariadb_says_the_one_command_that_fixes_it() {
    let server = DebianLikeServer::start();
    let url = format!("mysql://root@127.0.0.1:{}/member_portal", server.port);
    let migrate = || {
        binary::command(crate::BIN, &url)
            .arg("migrate")
            .output()
            .unwrap()
    };

    let refused = migrate();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8(refused.stderr).unwrap();
    // The error is the last line (log lines may come before it), and says what to do.
    let error = stderr.lines().last().unwrap_or_default();
    assert!(error.starts_with("error: "), "{stderr}");
    assert!(error.contains("unix socket only"), "{stderr}");
    // The command in the message, run as it says.
    let (_, command) = error.split_once("sudo mariadb -e \"").expect("the command");
    let (sql, _) = command.split_once("\" (").expect("the command's end");
    let fixed = server.as_root_over_the_socket(sql);
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );

    let started = migrate();
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    assert_eq!(
        member_portal::data::FIRST_START_COMMAND,
        format!("sudo mariadb -e \"{sql}\""),
        "the command is the one the message gives"
    );
    let readme = include_str!("../../README.md");
    assert!(
        readme.contains(member_portal::data::FIRST_START_COMMAND),
        "the README gives the same command"
    );
}
