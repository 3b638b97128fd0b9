//! The index subcommands of the `crosscode` command line: `build`, `search`, `info`,
//! `verify`, `delete`, `compact`. Each lives in its own file; [`StoreCommand`] gathers
//! them so the binary adds them with one `#[command(flatten)]` variant.

mod build;
mod compact;
mod delete;
mod info;
mod search;
mod verify;

use clap::Subcommand;

use crate::error::Result;

pub use build::BuildArgs;
pub use compact::CompactArgs;
pub use delete::DeleteArgs;
pub use info::InfoArgs;
pub use search::SearchArgs;
pub use verify::VerifyArgs;

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
