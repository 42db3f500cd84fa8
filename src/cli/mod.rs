//! Command-line verbs and their dispatch.

use clap::{Parser, Subcommand};

pub mod aggregate;

/// Tessera: simulate, optimise and run the workforce behind data annotation.
#[derive(Parser, Debug)]
#[command(name = "tessera", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Consensus labels for a real answers file (majority vote, Dawid-Skene, GLAD, ...).
    #[command(long_about = aggregate::LONG_ABOUT)]
    Aggregate(aggregate::AggregateArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Aggregate(args) => aggregate::run(args),
    }
}
