//! The `tessera` command line: a thin shell over the crates. Each verb lives in `src/cli/<verb>.rs`.

use clap::Parser;
use tessera::cli;

fn main() {
    let args = cli::Cli::parse();
    if let Err(e) = cli::run(args) {
        if let Some(stop) = e.downcast_ref::<cli::simulate::StoppedEarly>() {
            eprintln!("stopped: {stop}");
            std::process::exit(3);
        }
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
