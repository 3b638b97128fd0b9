//! The `crosscode` command line: argument definitions and the code behind each
//! subcommand, one file each, over the library's public API (the library exports no
//! command line). The index subcommands (`build`, `search`, `info`, `verify`, `delete`,
//! `compact`) are gathered in [`StoreCommand`]; [`train`] holds `train`, `encode` and
//! `eval`; [`bench_quality`] compares the methods' retrieval quality.

mod bench_quality;
mod build;
mod compact;
mod delete;
mod demo;
mod info;
mod search;
mod train;
mod verify;

use clap::{Parser, Subcommand};

use std::process::ExitCode;

use crosscode::error::Result;

pub use bench_quality::BenchQualityArgs;
pub use build::BuildArgs;
pub use compact::CompactArgs;
pub use delete::DeleteArgs;
pub use demo::DemoArgs;
pub use info::InfoArgs;
pub use search::SearchArgs;
pub use verify::VerifyArgs;

/// crosscode: learned compact codes for cross-modal retrieval — train, index, search.
#[derive(Debug, Parser)]
#[command(name = "crosscode", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// All subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the search engine end to end on generated codes with planted neighbours,
    /// check the answers against brute force and print throughput.
    #[command(after_help = demo::EXAMPLES)]
    Demo(DemoArgs),
    /// Index subcommands.
    #[command(flatten)]
    Store(StoreCommand),
    /// Train a hashing model on paired features (and optionally evaluate it on a split).
    Train(Box<train::TrainArgs>),
    /// Encode one modality's features to packed binary codes (`.npy`, u8, n × bits/8).
    Encode(train::EncodeArgs),
    /// Evaluate query codes against database codes (labels or pairs); JSON + SVG.
    Eval(train::EvalArgs),
    /// Train every method at several code lengths on mfeat and bible and write a
    /// Markdown table of retrieval quality with PR-curve SVGs.
    #[command(after_help = bench_quality::EXAMPLES)]
    BenchQuality(BenchQualityArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> std::result::Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Demo(a) => a.run(),
        Command::Store(c) => Ok(c.run()?),
        Command::Train(a) => Ok(train::train(*a)?),
        Command::Encode(a) => Ok(train::encode(a)?),
        Command::Eval(a) => Ok(train::eval(a)?),
        Command::BenchQuality(a) => {
            let md = bench_quality::bench_quality(&a)?;
            println!("{}", md.display());
            Ok(())
        }
    }
}

/// Index subcommands.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Build (or extend) an index from code files, streaming in chunks.
    #[command(after_help = build::EXAMPLES)]
    Build(BuildArgs),
    /// Search an index: k nearest or all within a Hamming radius.
    #[command(after_help = search::EXAMPLES)]
    Search(SearchArgs),
    /// Show an index's schema, segments and row counts.
    #[command(after_help = info::EXAMPLES)]
    Info(InfoArgs),
    /// Check every checksum of an index.
    #[command(after_help = verify::EXAMPLES)]
    Verify(VerifyArgs),
    /// Delete rows by id.
    #[command(after_help = delete::EXAMPLES)]
    Delete(DeleteArgs),
    /// Rewrite an index into one segment without its deleted rows.
    #[command(after_help = compact::EXAMPLES)]
    Compact(CompactArgs),
}

impl StoreCommand {
    /// Runs the command, writing its report to stdout.
    pub fn run(self) -> Result<()> {
        match self {
            StoreCommand::Build(a) => a.run(),
            StoreCommand::Search(a) => a.run(),
            StoreCommand::Info(a) => a.run(),
            StoreCommand::Verify(a) => a.run(),
            StoreCommand::Delete(a) => a.run(),
            StoreCommand::Compact(a) => a.run(),
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
