//! The output files of `tessera simulate`. Same results in, same bytes out.

use anyhow::{Context, Result};
use std::io::{BufWriter, Write};
use std::path::Path;
use tessera_engine::run::record::{TaskRecord, TraceEvent};

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

/// Writes events.jsonl: one JSON object per line, with the replication number.
pub fn write_trace_jsonl<'a>(path: &Path, runs: impl Iterator<Item = (u32, &'a [TraceEvent])>) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut w = BufWriter::new(file);
    for (rep, events) in runs {
        for e in events {
            let mut v = serde_json::to_value(e)?;
            v["replication"] = rep.into();
            serde_json::to_writer(&mut w, &v)?;
            w.write_all(b"\n")?;
        }
    }
    w.flush()?;
    Ok(())
}
