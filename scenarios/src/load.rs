//! Reading a scenario: TOML syntax → `--set` overrides → schema (serde, unknown fields rejected) →
//! semantic validation. Every failure becomes an [`Issue`] located in the file.

use crate::error::{Issue, ScenarioError};
use crate::locate::{line_col, locate};
use crate::validate::{validate, warnings, Known};
use crate::overrides;
use std::path::Path;
use tessera_engine::spec::Scenario;
use toml_edit::{DocumentMut, ImDocument};

/// Loads and validates a scenario file, applying `overrides` (`KEY=VALUE`) first.
pub fn load_file(path: &Path, overrides: &[String], known: &Known) -> Result<Scenario, ScenarioError> {
    load_file_with(path, &[], overrides, known).map(|l| l.scenario)
}

/// A valid scenario and what in it is allowed but probably not meant.
#[derive(Debug)]
pub struct Loaded {
    pub scenario: Scenario,
    /// Located like errors; print them, do not stop.
    pub warnings: Vec<Issue>,
}

/// Largest scenario file read [bytes]: a scenario is a page of TOML, not a data file.
pub const MAX_SCENARIO_BYTES: u64 = 16 << 20;

/// Loads a scenario file: `unset` keys removed (`--unset`), then `set` applied (`--set`), then
/// checked; warnings come back beside the scenario.
pub fn load_file_with(path: &Path, unset: &[String], set: &[String], known: &Known) -> Result<Loaded, ScenarioError> {
    let io = |source| ScenarioError::Io { path: path.display().to_string(), source };
    let len = std::fs::metadata(path).map_err(io)?.len();
    if len > MAX_SCENARIO_BYTES {
        let message = format!("the file has {len} bytes; a scenario has at most {MAX_SCENARIO_BYTES} (16 MiB): is this a scenario?");
        return Err(ScenarioError::Invalid(vec![Issue { location: path.display().to_string(), path: String::new(), message }]));
    }
    let text = std::fs::read_to_string(path).map_err(io)?;
    let mut l = load_str_with(&text, &path.display().to_string(), unset, set, known)?;
    if l.scenario.name.is_none() {
        l.scenario.name = path.file_stem().map(|n| n.to_string_lossy().into_owned());
    }
    Ok(l)
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

/// The scenario text with `--set` overrides applied (comments and layout kept): how a plan or a
/// what-if is written back as a runnable file. Errors like [`load_str`]'s.
pub fn apply_overrides(text: &str, origin: &str, set: &[String]) -> Result<String, ScenarioError> {
    apply_edits(text, origin, &[], set)
}

/// [`apply_overrides`] with `--unset` keys removed first (a key that is not there is no error:
/// the result is the same).
pub fn apply_edits(text: &str, origin: &str, unset: &[String], set: &[String]) -> Result<String, ScenarioError> {
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let (l, c) = e.span().map_or((1, 1), |s| line_col(text, s.start));
        ScenarioError::Invalid(vec![Issue { location: format!("{origin}:{l}:{c}"), path: String::new(), message: e.message().trim().to_string() }])
    })?;
    for k in unset {
        let _ = overrides::unset(&mut doc, k);
    }
    for o in set {
        overrides::apply(&mut doc, o).map_err(|message| ScenarioError::Invalid(vec![Issue { location: format!("--set {o}"), path: String::new(), message }]))?;
    }
    Ok(doc.to_string())
}

/// Loads and validates scenario text; `origin` names it in errors (usually the file path).
pub fn load_str(text: &str, origin: &str, overrides: &[String], known: &Known) -> Result<Scenario, ScenarioError> {
    load_str_with(text, origin, &[], overrides, known).map(|l| l.scenario)
}

/// [`load_str`] with `--unset` keys and warnings.
pub fn load_str_with(text: &str, origin: &str, unset: &[String], overrides: &[String], known: &Known) -> Result<Loaded, ScenarioError> {
    let at = |text: &str, offset: Option<usize>| match offset {
        Some(o) => {
            let (l, c) = line_col(text, o);
            format!("{origin}:{l}:{c}")
        }
        None => origin.to_string(),
    };
    // 1. Syntax.
    let mut doc: DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        let offset = e.span().map(|s| s.start);
        let mut message = e.message().trim().to_string();
        if message.is_empty() {
            // toml_edit says nothing for some characters (a form feed, a stray control byte).
            let found = offset.and_then(|o| text.get(o..)).and_then(|r| r.chars().next());
            message = match found {
                Some(c) => format!("invalid TOML: unexpected character {c:?}"),
                None => "invalid TOML: unexpected end of file".into(),
            };
        }
        ScenarioError::Invalid(vec![Issue { location: at(text, offset), path: String::new(), message }])
    })?;
    // 2. Overrides.
    let mut set_paths: Vec<(String, String)> = Vec::new();
    for u in unset {
        match overrides::unset(&mut doc, u) {
            Ok(p) => set_paths.push((p, format!("--unset {u}"))),
            Err(message) => return Err(ScenarioError::Invalid(vec![Issue { location: format!("--unset {u}"), path: String::new(), message }])),
        }
    }
    for o in overrides {
        match overrides::apply(&mut doc, o) {
            Ok(p) => set_paths.push((p, format!("--set {o}"))),
            Err(message) => return Err(ScenarioError::Invalid(vec![Issue { location: format!("--set {o}"), path: String::new(), message }])),
        }
    }
    let text: String = if overrides.is_empty() && unset.is_empty() { text.to_string() } else { doc.to_string() };
    let located = |path: &str, offset: Option<usize>| -> String {
        // The override that set this field, a field inside it, or (for a problem of a whole
        // table such as a stream's arrivals) a field of that table.
        let within = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}.")) || a.starts_with(&format!("{b}["));
        match set_paths.iter().rev().find(|(p, _)| !path.is_empty() && (within(path, p) || within(p, path))) {
            Some((_, o)) => o.clone(),
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
    let im = ImDocument::parse(text.as_str()).expect("text parsed once already");
    let issues = |v: Vec<(String, String)>| -> Vec<Issue> { v.into_iter().map(|(path, message)| Issue { location: located(&path, locate(&im, &path)), path, message }).collect() };
    if problems.is_empty() {
        let warnings = issues(warnings(&scenario));
        return Ok(Loaded { scenario, warnings });
    }
    Err(ScenarioError::Invalid(issues(problems)))
}
