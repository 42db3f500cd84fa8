//! The output files of `tessera simulate`: summary.json, tasks.csv and the streamed trace
//! (events.jsonl, schema `tessera.trace/2`). Same results in, same bytes out.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use tessera_engine::run::record::{TaskRecord, TraceSink};

/// Writes summary.json (pretty, keys sorted, trailing newline).
pub fn write_summary_json(path: &Path, summary: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes tasks.csv: one row per task of every replication.
pub fn write_tasks_csv<'a>(path: &Path, runs: impl Iterator<Item = (u32, &'a [TaskRecord])>) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = csv::Writer::from_writer(BufWriter::new(file));
    // Written field by field: csv's serializer cannot flatten the replication into the record.
    w.write_record([
        "replication", "task", "stream", "task_type", "priority", "arrival_s", "first_start_s", "final_s", "wait_s",
        "time_in_system_s", "labels", "abandonments", "reworks", "reopened", "reopened_gap_s", "final_label", "confidence", "true_label", "correct", "deadline_s",
        "deadline_missed", "item_cost_usd", "counted",
    ])?;
    let opt = |x: Option<f64>| x.map(|v| v.to_string()).unwrap_or_default();
    for (rep, tasks) in runs {
        for t in tasks {
            w.write_record([
                rep.to_string(),
                t.task.to_string(),
                t.stream.clone(),
                t.task_type.clone(),
                t.priority.to_string(),
                t.arrival_s.to_string(),
                opt(t.first_start_s),
                opt(t.final_s),
                opt(t.wait_s),
                opt(t.time_in_system_s),
                t.labels.to_string(),
                t.abandonments.to_string(),
                t.reworks.to_string(),
                t.reopened.to_string(),
                t.reopened_gap_s.to_string(),
                t.final_label.map(|l| l.to_string()).unwrap_or_default(),
                t.confidence.map(|c| c.to_string()).unwrap_or_default(),
                t.true_label.to_string(),
                t.correct.map(|c| c.to_string()).unwrap_or_default(),
                opt(t.deadline_s),
                t.deadline_missed.to_string(),
                t.item_cost_usd.to_string(),
                t.counted.to_string(),
            ])?;
        }
    }
    w.flush()?;
    Ok(())
}

/// A replication's trace, streamed to its own part file as the run goes (replications run in
/// parallel); [`join_trace_parts`] concatenates them in replication order.
pub struct TracePart {
    path: PathBuf,
    w: BufWriter<File>,
}

/// Where replication `r`'s part of `events.jsonl` goes.
pub fn trace_part_path(events: &Path, r: u32) -> PathBuf {
    let mut name = events.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".part{r}"));
    events.with_file_name(name)
}

impl TracePart {
    pub fn create(events: &Path, r: u32) -> Result<TracePart, String> {
        let path = trace_part_path(events, r);
        let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TracePart { w: BufWriter::with_capacity(1 << 16, file), path })
    }
}

impl TraceSink for TracePart {
    fn write(&mut self, line: &[u8]) -> Result<(), String> {
        self.w.write_all(line).map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
    fn finish(&mut self) -> Result<(), String> {
        self.w.flush().map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

/// Concatenates the part files of `reps` replications into `events` (schema `tessera.trace/2`:
/// each replication opens with its header line) and removes the parts.
pub fn join_trace_parts(events: &Path, reps: u32) -> Result<()> {
    let out = File::create(events).with_context(|| format!("cannot create {}", events.display()))?;
    let mut w = BufWriter::new(out);
    for r in 0..reps {
        let part = trace_part_path(events, r);
        let mut f = File::open(&part).with_context(|| format!("cannot read {}", part.display()))?;
        std::io::copy(&mut f, &mut w).with_context(|| format!("cannot write {}", events.display()))?;
        std::fs::remove_file(&part).with_context(|| format!("cannot remove {}", part.display()))?;
    }
    w.flush().with_context(|| format!("cannot write {}", events.display()))?;
    Ok(())
}
