use std::process::ExitCode;

use clap::Parser;
use member_portal::cli::{self, Cli};
use member_portal::config::Settings;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    member_portal::init_tracing();
    match actix_web::rt::System::new().block_on(cli::run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
