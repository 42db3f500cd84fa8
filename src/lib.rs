//! The `tessera` command's verbs as a library: `src/main.rs` parses the command line and calls
//! them; the Python package (`python/`, `tessera.bench`) calls the same code.

pub mod cli;
