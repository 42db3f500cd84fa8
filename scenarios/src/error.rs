//! Scenario errors: each names where (file:line:column, or the `--set` that caused it), which
//! field (dotted path) and what was expected.

use std::fmt;

/// One problem in a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    /// `file:line:column`, or `--set KEY=VALUE`.
    pub location: String,
    /// Dotted path of the field, e.g. `pools[0].count` (empty for the whole file).
    pub path: String,
    pub message: String,
}

/// At most `n` characters of `s`, with how many were left out (a 50 MB value echoed in an error
/// would bury the message).
pub fn clip(s: &str, n: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(n) {
        None => s.into(),
        Some((at, _)) => format!("{}… ({} more characters)", &s[..at], s[at..].chars().count()).into(),
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (location, path, message) = (clip(&self.location, 200), clip(&self.path, 200), clip(&self.message, 2000));
        if self.path.is_empty() {
            write!(f, "{location}: {message}")
        } else {
            write!(f, "{location}: {path}: {message}")
        }
    }
}

/// Everything wrong with a scenario (at least one issue), or a file that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read scenario {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{}", .0.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("\nerror: "))]
    Invalid(Vec<Issue>),
}

impl ScenarioError {
    pub fn issues(&self) -> &[Issue] {
        match self {
            ScenarioError::Invalid(v) => v,
            ScenarioError::Io { .. } => &[],
        }
    }
}
