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
mod split;
mod validate;
mod validate_model;
mod validate_workflow;

pub use error::{clip, Issue, ScenarioError};
pub use load::{apply_edits, apply_overrides, load_file, load_file_with, load_str, load_str_with, Loaded, MAX_SCENARIO_BYTES};
pub use split::{split_pools, PoolCopy};
pub use validate::Known;

/// Directory of the shipped scenario library (this crate's folder).
pub fn library_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why the TOML text of a file is not a scenario, or None when it may be one: a file that parses
/// as TOML but has neither `streams` nor `pools` (a `Cargo.toml`, a config file) is not; text that
/// does not parse may be a broken scenario, and loading it reports where.
pub fn not_a_scenario(text: &str) -> Option<String> {
    let doc: toml::Table = text.parse().ok()?;
    if doc.contains_key("streams") || doc.contains_key("pools") {
        return None;
    }
    let keys: Vec<&str> = doc.keys().map(String::as_str).take(6).collect();
    Some(if keys.is_empty() {
        "it has no [[streams]] or [[pools]] table (it is empty)".to_string()
    } else {
        format!("it has no [[streams]] or [[pools]] table (its top-level keys: {}{})", keys.join(", "), if doc.len() > 6 { ", ..." } else { "" })
    })
}

#[cfg(test)]
mod kind_tests {
    #[test]
    fn cargo_manifests_are_not_scenarios_and_scenarios_are() {
        let cargo = std::fs::read_to_string(super::library_dir().join("Cargo.toml")).unwrap();
        let why = super::not_a_scenario(&cargo).expect("Cargo.toml is not a scenario");
        assert!(why.contains("package") && why.contains("[[streams]]"), "{why}");
        let mmc = std::fs::read_to_string(super::library_dir().join("mmc.toml")).unwrap();
        assert_eq!(super::not_a_scenario(&mmc), None);
        assert_eq!(super::not_a_scenario("this is [not toml"), None, "a broken file may be a broken scenario");
        assert!(super::not_a_scenario("").unwrap().contains("empty"));
    }
}
