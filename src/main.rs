use std::process::ExitCode;

use clap::Parser;
use member_portal::cli::{self, Cli};
use member_portal::config::Settings;

// A signed-in page view allocates and frees a few hundred small blocks (the state map, the
// cookie, the row, the headers, the page); mimalloc serves them in much less time than
// glibc's allocator (docs/performance.md, cut 3).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Errors here are values, often many per second during a database outage; with
    // RUST_BACKTRACE=1 anyhow would capture a backtrace for each (hundreds of µs to ms).
    // Panics keep their backtraces: this only concerns library error values.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        std::env::set_var("RUST_LIB_BACKTRACE", "0");
    }
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    member_portal::init_tracing(&settings.log_filter);
    match actix_web::rt::System::new().block_on(cli::run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", cli::one_line(&error));
            ExitCode::FAILURE
        }
    }
}
