//! The `crosscode` command line; everything behind it lives in `crosscode::cli`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match crosscode::cli::run(crosscode::cli::Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
