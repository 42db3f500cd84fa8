//! tessera-scenarios: everything a user feeds in. Scenario files (TOML) are parsed into the
//! engine's schema ([`tessera_engine::spec::Scenario`]), with `--set` overrides applied first and
//! every error located at `file:line:column` with the field's dotted path; and real data files
//! (crowd answers, golden labels) read into the engine's dense-id types (`answers`).
//!
//! Architecture invariant: this crate reads files and reports; it never runs a simulation.

pub mod answers;
mod error;
mod load;
mod locate;
mod overrides;
mod validate;

pub use error::{Issue, ScenarioError};
pub use load::{load_file, load_file_with, load_str, load_str_with, Loaded, MAX_SCENARIO_BYTES};
pub use validate::Known;

/// Directory of the shipped scenario library (this crate's folder).
pub fn library_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
