//! Reading a trace (schema `tessera.trace/2`, one JSON object per line) as a stream: one line in
//! memory at a time, errors naming the file, line and field.

use serde::Deserialize;
use std::io::BufRead;

/// The longest line read [bytes]: a real line is a few hundred bytes; a longer one is not a trace.
pub const MAX_LINE: usize = 1 << 20;

/// One line of the trace: the header's fields and the events', all optional (unknown fields are
/// allowed, so later schema versions that add fields still read).
#[derive(Debug, Default, Deserialize)]
pub struct Line {
    pub schema: Option<String>,
    pub v: Option<u32>,
    pub replication: Option<u32>,
    pub scenario: Option<String>,
    pub seed: Option<u64>,
    pub clock: Option<String>,
    pub epoch_unix_us: Option<i64>,
    /// A rehearsal's speed-up (simulated seconds per second), when the header says it.
    pub speedup: Option<f64>,
    pub t_us: Option<i64>,
    pub event: Option<String>,
    pub task: Option<u64>,
    pub assignment: Option<u64>,
    pub annotator: Option<String>,
    pub stream: Option<String>,
    pub task_type: Option<String>,
    /// The header's offset from UTC [s].
    pub utc_offset_s: Option<i64>,
    pub work: Option<String>,
    pub label: Option<String>,
    pub right: Option<bool>,
    pub outcome: Option<String>,
    pub late: Option<bool>,
    /// A pre-label's confidence (prelabel lines).
    pub confidence: Option<f32>,
    /// A model's retrain or start to serve: its name, training labels and measured accuracy.
    pub model: Option<String>,
    pub labels: Option<u64>,
    pub accuracy: Option<f64>,
    /// A join event's declared task types and group (live traces).
    pub skills: Option<Vec<String>>,
    pub group: Option<String>,
}

/// A trace that cannot be read, with where.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{origin}: {what}: {source}")]
    Io { origin: String, what: String, source: std::io::Error },
    #[error("{origin}:{line}: {message}")]
    Line { origin: String, line: u64, message: String },
    #[error("{origin}: {message}")]
    File { origin: String, message: String },
}

impl TraceError {
    pub fn line(origin: &str, line: u64, message: impl Into<String>) -> Self {
        TraceError::Line { origin: origin.to_string(), line, message: message.into() }
    }
}

/// Reads the trace line by line and hands each parsed line, with its number, to `each`.
/// Blank lines are skipped; a line that is not JSON, or longer than [`MAX_LINE`], is an error.
pub fn for_each_line(mut reader: impl BufRead, origin: &str, mut each: impl FnMut(u64, Line) -> Result<(), TraceError>) -> Result<u64, TraceError> {
    let mut buf = Vec::with_capacity(512);
    let mut n = 0u64;
    loop {
        buf.clear();
        let mut limited = std::io::Read::take(&mut reader as &mut dyn BufRead, MAX_LINE as u64 + 1);
        let read = limited.read_until(b'\n', &mut buf).map_err(|e| TraceError::Io { origin: origin.to_string(), what: format!("cannot read line {}", n + 1), source: e })?;
        if read == 0 {
            return Ok(n);
        }
        n += 1;
        if buf.len() > MAX_LINE && !buf.ends_with(b"\n") {
            return Err(TraceError::line(origin, n, format!("a line longer than {} MiB: not a trace", MAX_LINE >> 20)));
        }
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let line: Line = serde_json::from_slice(text).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => format!("a field has the wrong type: {e}"),
                _ => format!("not a JSON object: {e}"),
            };
            TraceError::line(origin, n, what.replace(" at line 1 column ", " at column "))
        })?;
        each(n, line)?;
    }
}
