//! A project's event trace (schema `tessera.trace/2`, the lines `tessera simulate --trace`
//! writes), made by replaying its command log through a fresh core: the trace is what the core
//! decided, rebuilt from what the store holds, one page of the log at a time. The same replay
//! feeds a project's drift watch ([`crate::drift`]).

use crate::log::{self, Entry};
use crate::project::Settings;
use tessera_engine::core::{Core, Effect, TaskId};
use tessera_engine::run::record::{TraceEvent, TraceHeader, TRACE_SCHEMA};
use tessera_engine::time::{Epoch, SimTime};

/// A rehearsal server (`tessera serve --rehearsal-speedup K`): its speed-up, and whether its
/// clock ran at that pace (`clock::ScaledClock`: its times are then the scenario's own, and the
/// trace header's clock says "rehearsal"; otherwise "live", and readers stretch its times by K).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rehearsal {
    pub speedup: f64,
    pub paced: bool,
}

/// The trace's header line of a project, saying so when the server is a rehearsal's.
pub fn header(settings: &Settings, core: &Core, project: &str, rehearsal: Option<Rehearsal>) -> TraceHeader {
    let clock = if rehearsal.is_some_and(|r| r.paced) { "rehearsal" } else { "live" };
    TraceHeader { schema: TRACE_SCHEMA, v: 2, replication: 0, scenario: project.to_string(), policy: core.router_name().to_string(), seed: settings.seed, epoch_unix_us: 0, clock, utc_offset_s: None, speedup: rehearsal.map(|r| r.speedup) }
}

/// A replay of a project's log, page by page: the core, the stream of each live task, and the
/// annotators' external ids by core id (a core's annotators come only from join entries, in
/// order).
pub struct Replay {
    pub core: Core,
    streams: std::collections::HashMap<u64, u16>,
    names: Vec<String>,
    /// The last log sequence number replayed.
    pub after: u64,
}

impl Replay {
    pub fn new(settings: &Settings) -> Replay {
        Replay { core: settings.core(), streams: Default::default(), names: Vec::new(), after: 0 }
    }

    /// Replays a page of log entries (seq, at_us, entry) and hands each trace event to `each`.
    pub fn page(&mut self, settings: &Settings, page: Vec<(u64, u64, String)>, mut each: impl FnMut(&TraceEvent) -> Result<(), String>) -> Result<(), String> {
        for (seq, at, text) in page {
            self.after = seq;
            let entry: Entry = serde_json::from_str(&text).map_err(|e| format!("log entry {seq}: {e}"))?;
            if let Entry::Join { registration: r } = &entry {
                // Who joined, with what they declared: before the effects that name them.
                let ev = TraceEvent { annotator: Some(&r.external_id), skills: Some(r.skills.iter().map(|s| s.task_type.clone()).collect()), group: r.group.clone(), ..TraceEvent::at(Epoch(0), SimTime(at), 0, "join") };
                each(&ev)?;
                self.names.push(r.external_id.clone());
            }
            let effects = log::apply(&mut self.core, settings, &entry, seq, SimTime(at))?.to_vec();
            for e in &effects {
                if let Effect::Arrived { task, stream } = e {
                    self.streams.insert(task.0, *stream);
                }
                let streams = &self.streams;
                let of = |t: TaskId| streams.get(&t.0).copied();
                if let Some(ev) = TraceEvent::from_effect(e, Epoch(0), SimTime(at), 0, &self.names, &settings.setup.streams, of) {
                    each(&ev)?;
                }
                if let Effect::Settled { task } | Effect::LeftUnserved { task, .. } = e {
                    self.streams.remove(&task.0);
                }
            }
        }
        Ok(())
    }
}

/// Replays log pages from `next_page(after_seq)` and hands each chunk of trace lines to `out`
/// (which returns false to stop).
pub fn write(settings: &Settings, project: &str, rehearsal: Option<Rehearsal>, mut next_page: impl FnMut(u64) -> Result<Vec<(u64, u64, String)>, String>, mut out: impl FnMut(Vec<u8>) -> bool) -> Result<(), String> {
    let mut replay = Replay::new(settings);
    let mut line = serde_json::to_vec(&header(settings, &replay.core, project, rehearsal)).map_err(|e| e.to_string())?;
    line.push(b'\n');
    if !out(line) {
        return Ok(());
    }
    loop {
        let page = next_page(replay.after)?;
        if page.is_empty() {
            return Ok(());
        }
        let mut chunk = Vec::new();
        replay.page(settings, page, |ev| {
            serde_json::to_writer(&mut chunk, ev).map_err(|e| e.to_string())?;
            chunk.push(b'\n');
            Ok(())
        })?;
        if !out(chunk) {
            return Ok(());
        }
    }
}
