//! Building the in-memory state from stored rows. A store's start-up (the whole history) and
//! PostgreSQL's catch-up (the rows other nodes committed since this node last looked) feed the
//! same functions, so a node that caught up holds exactly what a node that restarted would.

use crate::api;
use crate::auth::Keys;
use crate::error::ApiError;
use crate::log::Entry;
use crate::ops::Principal;
use crate::project::Settings;
use crate::state::{DueWhat, ProjectState, State};
use std::sync::Arc;

/// A project row as stored.
pub struct ProjectRow {
    pub id: i64,
    pub tenant: i64,
    pub name: String,
    pub settings: String,
    pub lease_us: u64,
    pub seed: u64,
}

pub fn add_project(state: &mut State, row: ProjectRow) -> Result<(), ApiError> {
    if state.projects.contains_key(&row.id) {
        return Ok(());
    }
    let settings = Settings::parse(&row.settings, false, row.lease_us, row.seed).map_err(|e| ApiError::internal(format!("project {}: stored settings no longer load: {}", row.id, e.body.message)))?;
    state.projects.insert(row.id, ProjectState::new(row.id, row.tenant, row.name, Arc::new(settings)));
    Ok(())
}

/// A registered person. Rows come in core-id order (ids are handed out in that order).
pub fn add_annotator(state: &mut State, keys: &Keys, project: i64, id: i64, core_id: u32, token_hash: String) -> Result<(), ApiError> {
    let p = state.projects.get_mut(&project).ok_or_else(|| ApiError::internal(format!("annotator {id}: no project {project}")))?;
    if p.annotator_rows.len() != core_id as usize {
        return Err(ApiError::internal(format!("annotator {id}: core id {core_id} out of order (project {project} has {})", p.annotator_rows.len())));
    }
    p.annotator_rows.push(id);
    state.annotators.insert(id, (project, core_id));
    keys.add(token_hash, Principal::Annotator { id, tenant: p.tenant });
    Ok(())
}

/// What the state keeps of a task row: a golden task joins its stream's rotation; a pre-label
/// waits for the task's model stage.
pub fn add_task(state: &mut State, project: i64, task: i64, stream: u16, gold_answer: Option<u16>, prelabel: Option<&str>) {
    let Some(p) = state.projects.get_mut(&project) else { return };
    if let Some(answer) = gold_answer {
        if let Some(g) = p.gold.get_mut(stream as usize) {
            g.entry(answer).or_default().push(task);
        }
    } else if let Some(pl) = prelabel.and_then(|t| serde_json::from_str::<api::PreLabel>(t).ok()) {
        p.prelabels.insert(task as u64, (pl.label, pl.confidence));
    }
}

/// Feeds one stored log entry to its project's core.
pub fn replay(state: &mut State, project: i64, seq: u64, at_us: u64, text: &str, due: &mut Vec<(u64, DueWhat)>) -> Result<(), ApiError> {
    let p = state.projects.get_mut(&project).ok_or_else(|| ApiError::internal(format!("log entry {seq}: no project {project}")))?;
    let entry: Entry = serde_json::from_str(text).map_err(|e| ApiError::internal(format!("project {project}: log entry {seq} does not parse: {e}")))?;
    if let Entry::Core { command: tessera_engine::core::Command::PreLabelled { task, .. } } = &entry {
        p.prelabels.remove(&task.0);
    }
    p.apply(&entry, seq, at_us, due).map_err(|e| ApiError::internal(format!("project {project}: log entry {seq}: {e}")))?;
    state.floor_us = state.floor_us.max(at_us);
    if due.len() >= 1 << 16 {
        // Keep only what is still pending, so replaying a long history stays small.
        due.retain(|(_, w)| match w {
            DueWhat::Lease(a) => p.leases.contains_key(a),
            other => p.timers.contains(other),
        });
    }
    Ok(())
}

/// After a whole project's log: keep the timers still pending; leases come back through
/// [`open_lease`] with their stored expiries.
pub fn keep_pending_timers(state: &State, project: i64, due: &mut Vec<(u64, DueWhat)>) {
    let Some(p) = state.projects.get(&project) else { return };
    due.retain(|(_, w)| !matches!(w, DueWhat::Lease(_)) && p.timers.contains(w));
}

/// An open lease as stored: the golden task handed out, and the expiry heartbeats moved.
pub fn open_lease(state: &mut State, project: i64, assignment: u64, task: i64, expires_us: u64, due: &mut Vec<(u64, DueWhat)>) {
    let Some(p) = state.projects.get_mut(&project) else { return };
    if let Some(l) = p.leases.get_mut(&assignment) {
        l.task = task;
        l.expires_us = expires_us;
        due.push((expires_us, DueWhat::Lease(assignment)));
    }
}
