//! The `tessera` command line: a thin shell over the crates. Each verb lives in `src/cli/<verb>.rs`.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
