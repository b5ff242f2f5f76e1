//! A local SMTP server for `bench/mail.sh`: the tests' [`SmtpServer`] on a fixed port, which
//! counts what it receives and reports how fast it came.
//!
//! `smtp-sink PORT COUNT`: listens on 127.0.0.1:PORT, and once COUNT mails have arrived prints
//! one line (`COUNT mails in S s: R mails/s`, timed from the first to the last) and exits.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark tool: fail loudly, print figures

use std::time::{Duration, Instant};

use test_support::SmtpServer;

fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect("PORT");
    let count: usize = args.next().and_then(|c| c.parse().ok()).expect("COUNT");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let server = SmtpServer::start_on(port).await;
        let mut first = None;
        loop {
            let received = server.received();
            if received > 0 && first.is_none() {
                first = Some(Instant::now());
            }
            if received >= count {
                let took = first.map_or(Duration::ZERO, |f| f.elapsed());
                let secs = took.as_secs_f64().max(1e-3);
                println!(
                    "{received} mails in {secs:.2} s: {:.0} mails/s",
                    received as f64 / secs
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
}
