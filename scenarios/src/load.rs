//! Reading a scenario: TOML syntax → `--set` overrides → schema (serde, unknown fields rejected) →
//! semantic validation. Every failure becomes an [`Issue`] located in the file.

use crate::error::{Issue, ScenarioError};
use crate::locate::{line_col, locate};
use crate::validate::{validate, Known};
use crate::overrides;
use std::path::Path;
use tessera_engine::spec::Scenario;
use toml_edit::{DocumentMut, ImDocument};

/// Loads and validates a scenario file, applying `overrides` (`KEY=VALUE`) first.
pub fn load_file(path: &Path, overrides: &[String], known: &Known) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Io { path: path.display().to_string(), source })?;
    let mut s = load_str(&text, &path.display().to_string(), overrides, known)?;
    if s.name.is_none() {
        s.name = path.file_stem().map(|n| n.to_string_lossy().into_owned());
    }
    Ok(s)
}

/// Turns serde's type names into words a planner reads.
fn plain(msg: &str) -> String {
    msg.replace("expected u32", "expected a non-negative integer")
        .replace("expected u64", "expected a non-negative integer")
        .replace("expected i64", "expected an integer")
        .replace("expected f64", "expected a number")
        .replace("invalid type: ", "")
        .replace("invalid value: ", "")
        .replace('`', "")
}

/// Loads and validates scenario text; `origin` names it in errors (usually the file path).
pub fn load_str(text: &str, origin: &str, overrides: &[String], known: &Known) -> Result<Scenario, ScenarioError> {
    let at = |text: &str, offset: Option<usize>| match offset {
        Some(o) => {
            let (l, c) = line_col(text, o);
            format!("{origin}:{l}:{c}")
        }
        None => origin.to_string(),
    };
    // 1. Syntax.
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        ScenarioError::Invalid(vec![Issue { location: at(text, e.span().map(|s| s.start)), path: String::new(), message: e.message().trim().to_string() }])
    })?;
    // 2. Overrides.
    let mut set_paths: Vec<(String, String)> = Vec::new();
    for o in overrides {
        match overrides::apply(&mut doc, o) {
            Ok(p) => set_paths.push((p, o.clone())),
            Err(message) => return Err(ScenarioError::Invalid(vec![Issue { location: format!("--set {o}"), path: String::new(), message }])),
        }
    }
    let text: String = if overrides.is_empty() { text.to_string() } else { doc.to_string() };
    let located = |path: &str, offset: Option<usize>| -> String {
        match set_paths.iter().rev().find(|(p, _)| path == p || path.starts_with(&format!("{p}.")) || path.starts_with(&format!("{p}["))) {
            Some((_, o)) => format!("--set {o}"),
            None => at(&text, offset),
        }
    };
    // 3. Schema.
    let de = toml::Deserializer::new(&text);
    let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let path = if path == "." || path == "?" { String::new() } else { path };
        let inner = e.inner();
        let offset = inner.span().map(|s| s.start);
        ScenarioError::Invalid(vec![Issue { location: located(&path, offset), path, message: plain(inner.message()) }])
    })?;
    // 4. Meaning.
    let problems = validate(&scenario, known);
    if problems.is_empty() {
        return Ok(scenario);
    }
    let im = ImDocument::parse(text.as_str()).expect("text parsed once already");
    Err(ScenarioError::Invalid(
        problems
            .into_iter()
            .map(|(path, message)| Issue { location: located(&path, locate(&im, &path)), path, message })
            .collect(),
    ))
}
