//! The `crosscode` command line.

use std::process::ExitCode;

use clap::Parser;

/// Learned compact codes for cross-modal retrieval: build, search and maintain indexes.
#[derive(Debug, Parser)]
#[command(name = "crosscode", version, about)]
struct Cli {
    #[command(subcommand)]
    command: crosscode::cli::StoreCommand,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
