//! The command line: argument definitions and the code behind each subcommand.
//!
//! `src/bin/crosscode.rs` only parses [`Cli`] and calls [`run`]; each group of
//! subcommands lives in its own file ([`train`] holds `train`, `encode` and `eval`).

pub mod train;

use clap::{Parser, Subcommand};

use crate::error::Result;

/// crosscode: learned compact codes for cross-modal retrieval.
#[derive(Parser, Debug)]
#[command(name = "crosscode", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a hashing model on paired features (and optionally evaluate it on a split).
    Train(Box<train::TrainArgs>),
    /// Encode one modality's features to packed binary codes (`.npy`, u8, n × bits/8).
    Encode(train::EncodeArgs),
    /// Evaluate query codes against database codes (labels or pairs); JSON + SVG.
    Eval(train::EvalArgs),
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Train(a) => train::train(*a),
        Command::Encode(a) => train::encode(a),
        Command::Eval(a) => train::eval(a),
    }
}
