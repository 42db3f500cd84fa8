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

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.path, self.message)
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
