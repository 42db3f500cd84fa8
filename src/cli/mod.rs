//! Command-line verbs and their dispatch.

use clap::{Parser, Subcommand};

/// Tessera: simulate, optimise and run the workforce behind data annotation.
#[derive(Parser, Debug)]
#[command(name = "tessera", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
    }
}
