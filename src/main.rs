//! The `de2en` binary: parse the arguments, run, turn the outcome into an exit code. Everything
//! else lives in the library (`de2en::cli` and below), so every stage is testable on its own.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = de2en::cli::Cli::parse();
    match de2en::cli::run(cli) {
        Ok(status) => status.into(),
        // A closed stdout (`de2en … | head`) is success; see `report_error`.
        Err(error) => de2en::cli::report_error(&error),
    }
}
