//! A project's event trace (schema `tessera.trace/2`, the lines `tessera simulate --trace`
//! writes), made by replaying its command log through a fresh core: the trace is what the core
//! decided, rebuilt from what the store holds, one page of the log at a time.

use crate::log::{self, Entry};
use crate::project::Settings;
use tessera_engine::core::{Effect, TaskId};
use tessera_engine::run::record::{TraceEvent, TraceHeader, TRACE_SCHEMA};
use tessera_engine::time::{Epoch, SimTime};

/// Replays log pages from `next_page(after_seq)` and hands each trace line to `out`.
pub fn write(settings: &Settings, names: &[String], project: &str, mut next_page: impl FnMut(u64) -> Result<Vec<(u64, u64, String)>, String>, mut out: impl FnMut(Vec<u8>) -> bool) -> Result<(), String> {
    let mut core = settings.core();
    let header = TraceHeader { schema: TRACE_SCHEMA, v: 2, replication: 0, scenario: project.to_string(), policy: core.router_name().to_string(), seed: settings.seed, epoch_unix_us: 0, clock: "live", utc_offset_s: None, speedup: None };
    let mut line = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    line.push(b'\n');
    if !out(line) {
        return Ok(());
    }
    let mut streams: std::collections::HashMap<u64, u16> = Default::default();
    let mut after = 0;
    loop {
        let page = next_page(after)?;
        if page.is_empty() {
            return Ok(());
        }
        let mut chunk = Vec::new();
        for (seq, at, text) in page {
            after = seq;
            let entry: Entry = serde_json::from_str(&text).map_err(|e| format!("log entry {seq}: {e}"))?;
            let effects = log::apply(&mut core, settings, &entry, seq, SimTime(at))?.to_vec();
            for e in &effects {
                match e {
                    Effect::Arrived { task, stream } => {
                        streams.insert(task.0, *stream);
                    }
                    Effect::Settled { task } | Effect::LeftUnserved { task, .. } => {
                        // Written below, then forgotten.
                        let _ = task;
                    }
                    _ => {}
                }
                let of = |t: TaskId| streams.get(&t.0).copied();
                if let Some(ev) = TraceEvent::from_effect(e, Epoch(0), SimTime(at), 0, names, &settings.setup.streams, of) {
                    serde_json::to_writer(&mut chunk, &ev).map_err(|e| e.to_string())?;
                    chunk.push(b'\n');
                }
                if let Effect::Settled { task } | Effect::LeftUnserved { task, .. } = e {
                    streams.remove(&task.0);
                }
            }
        }
        if !out(chunk) {
            return Ok(());
        }
    }
}
