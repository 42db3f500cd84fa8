//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
//! disk before anyone is told of it. One process owns it: the writer (`writer.rs`) holds the one
//! write connection; readers use their own read-only connections and never see the cores.

use super::replay::{self, ProjectRow};
use super::writer::{Backend, OpTx, Outcome, Store};
use super::{LabelEvent, LeaseRow, Message, Reads, Row, TaskQuery, WriteTx};
use crate::api;
use crate::auth::Keys;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::ops::Principal;
use crate::project::Settings;
use crate::state::State;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tenants (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (hash TEXT PRIMARY KEY, tenant INTEGER NOT NULL, created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS projects (id INTEGER PRIMARY KEY, tenant INTEGER NOT NULL, name TEXT NOT NULL, settings TEXT NOT NULL, lease_us INTEGER NOT NULL, seed INTEGER NOT NULL, webhook_secret TEXT NOT NULL, created_us INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS annotators (id INTEGER PRIMARY KEY, project INTEGER NOT NULL, core_id INTEGER NOT NULL, external_id TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, trust REAL, banned_until_us INTEGER, earned_usd REAL NOT NULL DEFAULT 0, created_us INTEGER NOT NULL, UNIQUE (project, external_id));
CREATE TABLE IF NOT EXISTS tasks (id INTEGER PRIMARY KEY, project INTEGER NOT NULL, stream INTEGER NOT NULL, unique_id TEXT, priority INTEGER, deadline_us INTEGER, callback_url TEXT, gold_answer INTEGER, prelabel TEXT, status TEXT NOT NULL, stage TEXT, label INTEGER, confidence REAL, votes TEXT, posteriors TEXT, finals INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL, updated_us INTEGER NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS tasks_unique ON tasks (project, unique_id) WHERE unique_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_updated ON tasks (project, updated_us, id);
CREATE INDEX IF NOT EXISTS tasks_gold ON tasks (project) WHERE gold_answer IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_prelabel ON tasks (project) WHERE prelabel IS NOT NULL;
CREATE TABLE IF NOT EXISTS payloads (task INTEGER PRIMARY KEY, payload TEXT NOT NULL, metadata TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS log (project INTEGER NOT NULL, seq INTEGER NOT NULL, at_us INTEGER NOT NULL, entry TEXT NOT NULL, PRIMARY KEY (project, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (project INTEGER NOT NULL, assignment INTEGER NOT NULL, annotator INTEGER NOT NULL, task INTEGER NOT NULL, kind TEXT NOT NULL, stage INTEGER NOT NULL, opened_us INTEGER NOT NULL, expires_us INTEGER NOT NULL, state TEXT NOT NULL, ended_us INTEGER, PRIMARY KEY (project, assignment)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS answers (id INTEGER PRIMARY KEY, project INTEGER NOT NULL, assignment INTEGER NOT NULL, task INTEGER NOT NULL, annotator INTEGER NOT NULL, kind TEXT NOT NULL, label INTEGER, accept INTEGER, fate TEXT NOT NULL, late INTEGER NOT NULL, at_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS answers_task ON answers (task);
CREATE TABLE IF NOT EXISTS submissions (project INTEGER NOT NULL, assignment INTEGER NOT NULL, answer TEXT NOT NULL, response TEXT NOT NULL, PRIMARY KEY (project, assignment)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (tenant INTEGER NOT NULL, key TEXT NOT NULL, route TEXT NOT NULL, body_hash TEXT NOT NULL, status INTEGER NOT NULL, response TEXT NOT NULL, created_us INTEGER NOT NULL, PRIMARY KEY (tenant, key, route)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, task INTEGER NOT NULL, event_type TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL, next_us INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, created_us INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_us);
CREATE INDEX IF NOT EXISTS outbox_task ON outbox (task);
CREATE TABLE IF NOT EXISTS outbox_attempts (message INTEGER NOT NULL, at_us INTEGER NOT NULL, status INTEGER, error TEXT, duration_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS outbox_attempts_message ON outbox_attempts (message);
CREATE TABLE IF NOT EXISTS label_events (id INTEGER PRIMARY KEY, project INTEGER NOT NULL, task INTEGER NOT NULL, finals INTEGER NOT NULL, body TEXT NOT NULL, published INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS label_events_unpublished ON label_events (id) WHERE published = 0;
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '1');
"#;

/// The SQLite store's reads: a pool of read-only connections.
pub struct SqliteStore {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    /// Stream names of each project, for reads.
    streams: Mutex<std::collections::HashMap<i64, Vec<String>>>,
}

/// The writer's side: the one write connection.
pub struct SqliteBackend {
    conn: Connection,
    path: PathBuf,
    /// Final labels also become label events (the server publishes them to a queue).
    publish_labels: bool,
}

fn open_write(path: &Path) -> Result<Connection, rusqlite::Error> {
    let c = Connection::open(path)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", "FULL")?;
    c.pragma_update(None, "busy_timeout", 5000)?;
    c.pragma_update(None, "foreign_keys", "OFF")?;
    c.execute_batch(SCHEMA)?;
    // Every statement the writer runs stays prepared (rusqlite keeps 16 by default).
    c.set_prepared_statement_cache_capacity(256);
    Ok(c)
}

fn open_read(path: &Path) -> Result<Connection, rusqlite::Error> {
    let c = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    c.pragma_update(None, "busy_timeout", 5000)?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

/// Opens (or creates) the store at `path`, rebuilds every project's core from its log, and
/// starts the writer. `publish_labels`: final labels also become label events for the queue.
pub fn open(path: &Path, clock: Arc<dyn Clock>, keys: Arc<Keys>, metrics: Arc<Metrics>, publish_labels: bool) -> anyhow::Result<Arc<Store>> {
    let conn = open_write(path).map_err(|e| anyhow::anyhow!("cannot open the store {}: {e}", path.display()))?;
    let reads = Arc::new(SqliteStore { path: path.to_path_buf(), readers: Mutex::new(Vec::new()), streams: Mutex::new(Default::default()) });
    Store::start(SqliteBackend { conn, path: path.to_path_buf(), publish_labels }, reads, clock, keys, metrics)
}

impl SqliteStore {
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> Result<T, rusqlite::Error>) -> Result<T, ApiError> {
        let conn = self.readers.lock().expect("readers lock").pop();
        let conn = match conn {
            Some(c) => c,
            None => open_read(&self.path)?,
        };
        let out = f(&conn);
        let mut pool = self.readers.lock().expect("readers lock");
        if pool.len() < 16 {
            pool.push(conn);
        }
        Ok(out?)
    }
}

/// Rebuilds the in-memory state: keys, projects, and each project's core from its log.
fn load(conn: &Connection, keys: &Keys) -> Result<State, ApiError> {
    let mut state = State::default();
    let mut st = conn.prepare("SELECT hash, tenant FROM api_keys")?;
    for r in st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (h, t) = r?;
        keys.add(h, Principal::Tenant(t));
    }
    let mut st = conn.prepare("SELECT id, tenant, name, settings, lease_us, seed FROM projects ORDER BY id")?;
    let rows: Vec<ProjectRow> = st
        .query_map([], |r| Ok(ProjectRow { id: r.get(0)?, tenant: r.get(1)?, name: r.get(2)?, settings: r.get(3)?, lease_us: r.get::<_, i64>(4)? as u64, seed: r.get::<_, i64>(5)? as u64 }))?
        .collect::<Result<_, _>>()?;
    for row in rows {
        let id = row.id;
        replay::add_project(&mut state, row)?;
        let mut st = conn.prepare("SELECT id, core_id, token_hash FROM annotators WHERE project = ?1 ORDER BY core_id")?;
        for r in st.query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?)))? {
            let (aid, core_id, token) = r?;
            replay::add_annotator(&mut state, keys, id, aid, core_id, token)?;
        }
        // Start-up reads only what is live: golden tasks and pre-labels of tasks not yet settled
        // (partial indexes; a settled task's pre-label is cleared), never the whole history.
        let mut st = conn.prepare("SELECT id, stream, gold_answer, prelabel FROM tasks WHERE project = ?1 AND (gold_answer IS NOT NULL OR prelabel IS NOT NULL) ORDER BY id")?;
        for r in st.query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u16>(1)?, r.get::<_, Option<u16>>(2)?, r.get::<_, Option<String>>(3)?)))? {
            let (t, stream, gold, pl) = r?;
            replay::add_task(&mut state, id, t, stream, gold, pl.as_deref());
        }
        // Replay the log through the core.
        let mut due = Vec::new();
        let mut st = conn.prepare("SELECT seq, at_us, entry FROM log WHERE project = ?1 ORDER BY seq")?;
        let mut rows = st.query([id])?;
        while let Some(r) = rows.next()? {
            let (seq, at, text): (u64, u64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            replay::replay(&mut state, id, seq, at, &text, &mut due)?;
        }
        replay::keep_pending_timers(&state, id, &mut due);
        let mut st = conn.prepare("SELECT assignment, task, expires_us FROM leases WHERE project = ?1 AND state = 'open'")?;
        for r in st.query_map([id], |r| Ok((r.get::<_, u64>(0)?, r.get::<_, i64>(1)?, r.get::<_, u64>(2)?)))? {
            let (asg, task, expires) = r?;
            replay::open_lease(&mut state, id, asg, task, expires, &mut due);
        }
        state.push_due(id, &mut due);
    }
    Ok(state)
}

impl Backend for SqliteBackend {
    fn load(&mut self, keys: &Keys) -> Result<State, ApiError> {
        // A fresh connection: the old one may be what failed.
        self.conn = open_write(&self.path)?;
        load(&self.conn, keys)
    }
    fn transact(&mut self, state: &mut State, _keys: &Keys, f: &mut dyn FnMut(&mut State, &mut dyn OpTx) -> bool) -> Outcome {
        let tx = match self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "cannot begin a transaction");
                return Outcome::NotStarted;
            }
        };
        if f(state, &mut SqlTx { tx: &tx, publish_labels: self.publish_labels }) {
            let _ = tx.rollback();
            return Outcome::Broken;
        }
        match tx.commit() {
            Ok(()) => Outcome::Committed,
            Err(e) => {
                tracing::error!(error = %e, "commit failed");
                Outcome::Broken
            }
        }
    }
    fn closing(&mut self) {
        let _ = self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
    }
}

/// A write transaction on the writer's connection.
struct SqlTx<'a> {
    tx: &'a Transaction<'a>,
    publish_labels: bool,
}

impl OpTx for SqlTx<'_> {
    fn savepoint(&mut self) -> Result<(), ApiError> {
        self.tx.prepare_cached("SAVEPOINT op")?.execute([])?;
        Ok(())
    }
    fn release(&mut self) -> Result<(), ApiError> {
        self.tx.prepare_cached("RELEASE op")?.execute([])?;
        Ok(())
    }
    fn rollback_to(&mut self) -> Result<(), ApiError> {
        self.tx.execute_batch("ROLLBACK TO op; RELEASE op")?;
        Ok(())
    }
}

impl WriteTx for SqlTx<'_> {
    fn next_id(&mut self, table: &'static str) -> Result<i64, ApiError> {
        let sql = match table {
            "tenants" => "SELECT COALESCE(MAX(id), 0) + 1 FROM tenants",
            "projects" => "SELECT COALESCE(MAX(id), 0) + 1 FROM projects",
            "annotators" => "SELECT COALESCE(MAX(id), 0) + 1 FROM annotators",
            "tasks" => "SELECT COALESCE(MAX(id), 0) + 1 FROM tasks",
            other => return Err(ApiError::internal(format!("no id sequence for {other}"))),
        };
        Ok(self.tx.prepare_cached(sql)?.query_row([], |r| r.get(0))?)
    }
    fn task_by_unique(&mut self, project: i64, unique_id: &str) -> Result<Option<i64>, ApiError> {
        Ok(self.tx.prepare_cached("SELECT id FROM tasks WHERE project = ?1 AND unique_id = ?2")?.query_row(params![project, unique_id], |r| r.get(0)).optional()?)
    }
    fn idempotent(&mut self, tenant: i64, key: &str, route: &str) -> Result<Option<(String, u16, String)>, ApiError> {
        Ok(self
            .tx
            .prepare_cached("SELECT body_hash, status, response FROM idempotency WHERE tenant = ?1 AND key = ?2 AND route = ?3")?
            .query_row(params![tenant, key, route], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()?)
    }
    fn submission(&mut self, project: i64, assignment: u64) -> Result<Option<(String, String)>, ApiError> {
        Ok(self.tx.prepare_cached("SELECT answer, response FROM submissions WHERE project = ?1 AND assignment = ?2")?.query_row(params![project, assignment as i64], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }
    fn lease(&mut self, project: i64, assignment: u64) -> Result<Option<LeaseRow>, ApiError> {
        Ok(self
            .tx
            .prepare_cached("SELECT annotator, task FROM leases WHERE project = ?1 AND assignment = ?2")?
            .query_row(params![project, assignment as i64], |r| Ok(LeaseRow { annotator: r.get(0)?, task: r.get(1)? }))
            .optional()?)
    }
    fn tenant_exists(&mut self, tenant: i64) -> Result<bool, ApiError> {
        Ok(self.tx.prepare_cached("SELECT 1 FROM tenants WHERE id = ?1")?.query_row([tenant], |_| Ok(())).optional()?.is_some())
    }
    fn task_project(&mut self, task: i64) -> Result<Option<i64>, ApiError> {
        Ok(self.tx.prepare_cached("SELECT project FROM tasks WHERE id = ?1")?.query_row([task], |r| r.get(0)).optional()?)
    }
    fn payload(&mut self, task: i64) -> Result<String, ApiError> {
        self.tx.prepare_cached("SELECT payload FROM payloads WHERE task = ?1")?.query_row([task], |r| r.get(0)).optional()?.ok_or_else(|| ApiError::not_found("task"))
    }
    fn due_messages(&mut self, now_us: u64, limit: usize) -> Result<Vec<Message>, ApiError> {
        let mut st = self.tx.prepare_cached(
            "SELECT o.id, t.callback_url, o.event_type, o.body, p.webhook_secret, o.attempts FROM outbox o JOIN tasks t ON t.id = o.task JOIN projects p ON p.id = t.project \
             WHERE o.state = 'pending' AND o.next_us <= ?1 ORDER BY o.next_us, o.id LIMIT ?2",
        )?;
        let rows = st.query_map(params![now_us as i64, limit as i64], |r| Ok(Message { id: r.get(0)?, url: r.get(1)?, event_type: r.get(2)?, body: r.get(3)?, secret: r.get(4)?, attempts: r.get(5)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
    fn annotator_by_external(&mut self, project: i64, external: &str) -> Result<Option<i64>, ApiError> {
        Ok(self.tx.prepare_cached("SELECT id FROM annotators WHERE project = ?1 AND external_id = ?2")?.query_row(params![project, external], |r| r.get(0)).optional()?)
    }
    fn put(&mut self, row: Row) -> Result<(), ApiError> {
        let tx = self.tx;
        match row {
            Row::Log { project, seq, at_us, entry } => {
                tx.prepare_cached("INSERT INTO log (project, seq, at_us, entry) VALUES (?1, ?2, ?3, ?4)")?.execute(params![project, seq as i64, at_us as i64, entry])?;
            }
            Row::Tenant { id, name, at_us } => {
                tx.prepare_cached("INSERT INTO tenants (id, name, created_us) VALUES (?1, ?2, ?3)")?.execute(params![id, name, at_us as i64])?;
            }
            Row::ApiKey { hash, tenant, at_us } => {
                tx.prepare_cached("INSERT INTO api_keys (hash, tenant, created_us) VALUES (?1, ?2, ?3)")?.execute(params![hash, tenant, at_us as i64])?;
            }
            Row::Project { id, tenant, name, settings, lease_us, seed, webhook_secret, at_us } => {
                tx.prepare_cached("INSERT INTO projects (id, tenant, name, settings, lease_us, seed, webhook_secret, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?
                    .execute(params![id, tenant, name, settings, lease_us as i64, seed as i64, webhook_secret, at_us as i64])?;
            }
            Row::Annotator { id, project, core_id, external_id, token_hash, at_us } => {
                tx.prepare_cached("INSERT INTO annotators (id, project, core_id, external_id, token_hash, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")?
                    .execute(params![id, project, core_id, external_id, token_hash, at_us as i64])?;
            }
            Row::Task { id, project, stream, unique_id, payload, metadata, priority, deadline_us, callback_url, gold_answer, prelabel, status, at_us } => {
                tx.prepare_cached(
                    "INSERT INTO tasks (id, project, stream, unique_id, priority, deadline_us, callback_url, gold_answer, prelabel, status, created_us, updated_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11)",
                )?
                .execute(params![id, project, stream, unique_id, priority, deadline_us.map(|d| d as i64), callback_url, gold_answer, prelabel, status, at_us as i64])?;
                tx.prepare_cached("INSERT INTO payloads (task, payload, metadata) VALUES (?1, ?2, ?3)")?.execute(params![id, payload, metadata])?;
            }
            Row::TaskStatus { task, status, stage, at_us } => {
                if status == "settled" || status == "left_unserved" {
                    tx.prepare_cached("UPDATE tasks SET status = ?2, prelabel = NULL, updated_us = ?3 WHERE id = ?1")?.execute(params![task, status, at_us as i64])?;
                } else {
                    tx.prepare_cached("UPDATE tasks SET status = ?2, stage = COALESCE(?3, stage), updated_us = ?4 WHERE id = ?1")?.execute(params![task, status, stage, at_us as i64])?;
                }
            }
            Row::Final { task, label, confidence, votes, posteriors, at_us } => {
                let votes = serde_json::to_string(&votes).unwrap_or_default();
                let posteriors = serde_json::to_string(&posteriors).unwrap_or_default();
                let (finals, url, project, unique): (u32, Option<String>, i64, Option<String>) = tx
                    .prepare_cached("UPDATE tasks SET status = 'final', stage = NULL, label = ?2, confidence = ?3, votes = ?4, posteriors = ?6, finals = finals + 1, updated_us = ?5 WHERE id = ?1 RETURNING finals, callback_url, project, unique_id")?
                    .query_row(params![task, label, confidence as f64, votes, at_us as i64, posteriors], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                if url.is_some() || self.publish_labels {
                    let event_type = if finals > 1 { "label.updated" } else { "label.final" };
                    let body = crate::webhooks::final_body(event_type, at_us, task, project, unique.as_deref(), label, confidence, &votes, &posteriors, finals);
                    if url.is_some() {
                        tx.prepare_cached("INSERT INTO outbox (task, event_type, body, state, next_us, created_us) VALUES (?1, ?2, ?3, 'pending', ?4, ?4)")?.execute(params![task, event_type, body, at_us as i64])?;
                    }
                    if self.publish_labels {
                        tx.prepare_cached("INSERT INTO label_events (project, task, finals, body) VALUES (?1, ?2, ?3, ?4)")?.execute(params![project, task, finals, body])?;
                    }
                }
            }
            Row::Lease { project, assignment, annotator, task, kind, stage, opened_us, expires_us } => {
                tx.prepare_cached("INSERT INTO leases (project, assignment, annotator, task, kind, stage, opened_us, expires_us, state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'open')")?
                    .execute(params![project, assignment as i64, annotator, task, kind, stage, opened_us as i64, expires_us as i64])?;
            }
            Row::LeaseExtended { project, assignment, expires_us } => {
                tx.prepare_cached("UPDATE leases SET expires_us = ?3 WHERE project = ?1 AND assignment = ?2")?.execute(params![project, assignment as i64, expires_us as i64])?;
            }
            Row::LeaseEnded { project, assignment, how, at_us } => {
                tx.prepare_cached("UPDATE leases SET state = ?3, ended_us = ?4 WHERE project = ?1 AND assignment = ?2")?.execute(params![project, assignment as i64, how, at_us as i64])?;
            }
            Row::Answer { project, assignment, task, annotator, kind, label, accept, fate, late, at_us } => {
                tx.prepare_cached("INSERT INTO answers (project, assignment, task, annotator, kind, label, accept, fate, late, at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?
                    .execute(params![project, assignment as i64, task, annotator, kind, label, accept, fate, late, at_us as i64])?;
            }
            Row::Submission { project, assignment, answer, response } => {
                tx.prepare_cached("INSERT INTO submissions (project, assignment, answer, response) VALUES (?1, ?2, ?3, ?4)")?.execute(params![project, assignment as i64, answer, response])?;
            }
            Row::Trust { annotator, trust } => {
                tx.prepare_cached("UPDATE annotators SET trust = ?2 WHERE id = ?1")?.execute(params![annotator, trust])?;
            }
            Row::Banned { annotator, until_us } => {
                tx.prepare_cached("UPDATE annotators SET banned_until_us = ?2 WHERE id = ?1")?.execute(params![annotator, until_us.map_or(i64::MAX, |u| u as i64)])?;
            }
            Row::Paid { annotator, usd } => {
                tx.prepare_cached("UPDATE annotators SET earned_usd = earned_usd + ?2 WHERE id = ?1")?.execute(params![annotator, usd])?;
            }
            Row::Idempotent { tenant, key, route, body_hash, status, response, at_us } => {
                tx.prepare_cached("INSERT INTO idempotency (tenant, key, route, body_hash, status, response, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?
                    .execute(params![tenant, key, route, body_hash, status, response, at_us as i64])?;
            }
            Row::Redeliver { task, at_us } => {
                let n = tx
                    .prepare_cached("UPDATE outbox SET state = 'pending', next_us = ?2, attempts = 0 WHERE id = (SELECT MAX(id) FROM outbox WHERE task = ?1)")?
                    .execute(params![task, at_us as i64])?;
                if n == 0 {
                    return Err(ApiError::conflict("this task has no webhook message to redeliver (no final label yet, or no callback_url)", None));
                }
            }
            Row::Attempt { message, at_us, status, error, duration_ms, next_us, delivered } => {
                tx.prepare_cached("INSERT INTO outbox_attempts (message, at_us, status, error, duration_ms) VALUES (?1, ?2, ?3, ?4, ?5)")?
                    .execute(params![message, at_us as i64, status, error, duration_ms as i64])?;
                let state = if delivered {
                    "delivered"
                } else if next_us.is_some() {
                    "pending"
                } else {
                    "exhausted"
                };
                tx.prepare_cached("UPDATE outbox SET state = ?2, attempts = attempts + 1, next_us = ?3 WHERE id = ?1")?.execute(params![message, state, next_us.unwrap_or(0) as i64])?;
            }
            Row::Claim { messages, until_us } => {
                let mut st = tx.prepare_cached("UPDATE outbox SET next_us = ?2 WHERE id = ?1 AND state = 'pending'")?;
                for m in messages {
                    st.execute(params![m, until_us as i64])?;
                }
            }
            Row::Published { ids } => {
                let mut st = tx.prepare_cached("UPDATE label_events SET published = 1 WHERE id = ?1")?;
                for id in ids {
                    st.execute([id])?;
                }
            }
        }
        Ok(())
    }
}

fn task_row(r: &rusqlite::Row, streams: &dyn Fn(i64, u16) -> String) -> rusqlite::Result<api::Task> {
    let project: i64 = r.get(1)?;
    let stream: u16 = r.get(2)?;
    let votes: Option<String> = r.get(9)?;
    let metadata: Option<String> = r.get(14)?;
    let posteriors: Option<String> = r.get(15)?;
    Ok(api::Task {
        id: r.get(0)?,
        project_id: project,
        stream: streams(project, stream),
        status: r.get(4)?,
        stage: r.get(5)?,
        unique_id: r.get(3)?,
        label: r.get(6)?,
        confidence: r.get::<_, Option<f64>>(7)?.map(|c| c as f32),
        votes: votes.and_then(|v| serde_json::from_str(&v).ok()),
        posteriors: posteriors.and_then(|v| serde_json::from_str(&v).ok()),
        finals: r.get(8)?,
        priority: r.get(10)?,
        deadline_us: r.get::<_, Option<i64>>(11)?.map(|d| d as u64),
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or(serde_json::Value::Null),
        created_us: r.get::<_, i64>(12)? as u64,
        updated_us: r.get::<_, i64>(13)? as u64,
    })
}

const TASK_COLUMNS: &str = "t.id, t.project, t.stream, t.unique_id, t.status, t.stage, t.label, t.confidence, t.finals, t.votes, t.priority, t.deadline_us, t.created_us, t.updated_us, pl.metadata, t.posteriors";

impl SqliteStore {
    /// Stream names by project (settings never change once a project exists, so they are
    /// read once per project).
    fn stream_names(&self, c: &Connection) -> impl Fn(i64, u16) -> String {
        let mut cache = self.streams.lock().expect("streams lock");
        let known = cache.keys().max().copied().unwrap_or(0);
        if let Ok(mut st) = c.prepare_cached("SELECT id, settings FROM projects WHERE id > ?1") {
            if let Ok(rows) = st.query_map([known], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))) {
                for (id, text) in rows.flatten() {
                    if cache.contains_key(&id) {
                        continue;
                    }
                    if let Ok(s) = Settings::parse(&text, false, 1, 1) {
                        cache.insert(id, s.setup.streams.iter().map(|x| x.name.clone()).collect());
                    }
                }
            }
        }
        let names = cache.clone();
        move |p, s| names.get(&p).and_then(|v| v.get(s as usize)).cloned().unwrap_or_else(|| format!("stream-{s}"))
    }
}

impl Reads for SqliteStore {
    fn task(&self, tenant: i64, task: i64) -> Result<Option<api::Task>, ApiError> {
        self.with_reader(|c| {
            let names = self.stream_names(c);
            c.prepare_cached(&format!("SELECT {TASK_COLUMNS} FROM tasks t JOIN projects p ON p.id = t.project LEFT JOIN payloads pl ON pl.task = t.id WHERE t.id = ?1 AND p.tenant = ?2"))?
                .query_row(params![task, tenant], |r| task_row(r, &names))
                .optional()
        })
    }
    fn tasks(&self, tenant: i64, project: i64, q: &TaskQuery) -> Result<Vec<api::Task>, ApiError> {
        self.with_reader(|c| {
            let names = self.stream_names(c);
            let (after_u, after_id) = q.after.map_or((-1i64, -1i64), |(u, id)| (u as i64, id));
            let since = q.updated_after_us.map_or(-1, |u| u as i64);
            let mut st = c.prepare_cached(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks t JOIN projects p ON p.id = t.project LEFT JOIN payloads pl ON pl.task = t.id \
                 WHERE t.project = ?1 AND p.tenant = ?2 AND t.updated_us > ?3 AND (t.updated_us, t.id) > (?4, ?5) AND (?6 IS NULL OR t.status = ?6) \
                 ORDER BY t.updated_us, t.id LIMIT ?7"
            ))?;
            let rows = st.query_map(params![project, tenant, since, after_u, after_id, q.status, q.limit as i64], |r| task_row(r, &names))?;
            rows.collect()
        })
    }
    fn answers(&self, tenant: i64, task: i64) -> Result<Option<Vec<api::AnswerOut>>, ApiError> {
        if self.task(tenant, task)?.is_none() {
            return Ok(None);
        }
        self.with_reader(|c| {
            let mut st = c.prepare_cached("SELECT assignment, annotator, kind, label, accept, fate, late, at_us FROM answers WHERE task = ?1 ORDER BY id")?;
            let rows = st.query_map([task], |r| {
                Ok(api::AnswerOut {
                    assignment_id: r.get::<_, i64>(0)? as u64,
                    annotator_id: r.get(1)?,
                    kind: r.get(2)?,
                    label: r.get(3)?,
                    accept: r.get(4)?,
                    fate: r.get(5)?,
                    late: r.get(6)?,
                    at_us: r.get::<_, i64>(7)? as u64,
                })
            })?;
            rows.collect::<Result<Vec<_>, _>>().map(Some)
        })
    }
    fn deliveries(&self, tenant: i64, task: i64) -> Result<Option<Vec<api::DeliveryOut>>, ApiError> {
        if self.task(tenant, task)?.is_none() {
            return Ok(None);
        }
        self.with_reader(|c| {
            let mut st = c.prepare_cached("SELECT id, event_type, state FROM outbox WHERE task = ?1 ORDER BY id")?;
            let msgs: Vec<(i64, String, String)> = st.query_map([task], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect::<Result<_, _>>()?;
            let mut out = Vec::new();
            for (id, event_type, state) in msgs {
                let mut st = c.prepare_cached("SELECT at_us, status, error, duration_ms FROM outbox_attempts WHERE message = ?1 ORDER BY rowid")?;
                let attempts = st
                    .query_map([id], |r| Ok(api::AttemptOut { at_us: r.get::<_, i64>(0)? as u64, status: r.get(1)?, error: r.get(2)?, duration_ms: r.get::<_, i64>(3)? as u64 }))?
                    .collect::<Result<_, _>>()?;
                out.push(api::DeliveryOut { message_id: crate::webhooks::message_id(id), event_type, state, attempts });
            }
            Ok(Some(out))
        })
    }
    fn finals(&self, tenant: i64, project: i64, after: i64, limit: usize) -> Result<Vec<(i64, Option<String>, u16, u16, f32)>, ApiError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached(
                "SELECT t.id, t.unique_id, t.stream, t.label, t.confidence FROM tasks t JOIN projects p ON p.id = t.project \
                 WHERE t.project = ?1 AND p.tenant = ?2 AND t.id > ?3 AND t.status IN ('final', 'settled') ORDER BY t.id LIMIT ?4",
            )?;
            let rows = st.query_map(params![project, tenant, after, limit as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, f64>(4)? as f32)))?;
            rows.collect()
        })
    }
    fn log(&self, project: i64, after: u64, limit: usize) -> Result<Vec<(u64, u64, String)>, ApiError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached("SELECT seq, at_us, entry FROM log WHERE project = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3")?;
            let rows = st.query_map(params![project, after as i64, limit as i64], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get(2)?)))?;
            rows.collect()
        })
    }
    fn project_tenant(&self, project: i64) -> Result<Option<i64>, ApiError> {
        self.with_reader(|c| c.prepare_cached("SELECT tenant FROM projects WHERE id = ?1")?.query_row([project], |r| r.get(0)).optional())
    }
    fn pending_messages(&self) -> Result<u64, ApiError> {
        self.with_reader(|c| c.prepare_cached("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")?.query_row([], |r| r.get::<_, i64>(0)).map(|n| n as u64))
    }
    fn project_name(&self, project: i64) -> Result<String, ApiError> {
        self.with_reader(|c| c.prepare_cached("SELECT name FROM projects WHERE id = ?1")?.query_row([project], |r| r.get(0)))
    }
    fn project_count(&self) -> Result<usize, ApiError> {
        self.with_reader(|c| c.prepare_cached("SELECT COUNT(*) FROM projects")?.query_row([], |r| r.get::<_, i64>(0)).map(|n| n as usize))
    }
    fn projects_named(&self, name: &str) -> Result<Vec<(i64, i64)>, ApiError> {
        self.with_reader(|c| c.prepare_cached("SELECT id, tenant FROM projects WHERE name = ?1 ORDER BY id")?.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
    }

    /// A project's settings and its annotators' external ids by core id (the trace's names).
    fn project_for_replay(&self, tenant: i64, project: i64) -> Result<Option<(Settings, Vec<String>)>, ApiError> {
        self.with_reader(|c| {
            let row: Option<(String, i64, i64)> = c.prepare_cached("SELECT settings, lease_us, seed FROM projects WHERE id = ?1 AND tenant = ?2")?.query_row(params![project, tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
            let Some((text, lease, seed)) = row else { return Ok(None) };
            let names: Vec<String> = c.prepare_cached("SELECT external_id FROM annotators WHERE project = ?1 ORDER BY core_id")?.query_map([project], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(Some((text, lease, seed, names)))
        })?
        .map(|(text, lease, seed, names)| Settings::parse(&text, false, lease as u64, seed as u64).map(|s| (s, names)))
        .transpose()
    }
    fn unpublished_labels(&self, limit: usize) -> Result<Vec<LabelEvent>, ApiError> {
        self.with_reader(|c| {
            let mut st = c.prepare_cached("SELECT id, project, task, finals, body FROM label_events WHERE published = 0 ORDER BY id LIMIT ?1")?;
            let rows = st.query_map([limit as i64], |r| Ok(LabelEvent { id: r.get(0)?, project: r.get(1)?, msg_id: super::label_msg_id(r.get(2)?, r.get(3)?), body: r.get(4)? }))?;
            rows.collect()
        })
    }
    fn principal(&self, hash: &str) -> Result<Option<Principal>, ApiError> {
        self.with_reader(|c| {
            if let Some(t) = c.prepare_cached("SELECT tenant FROM api_keys WHERE hash = ?1")?.query_row([hash], |r| r.get::<_, i64>(0)).optional()? {
                return Ok(Some(Principal::Tenant(t)));
            }
            c.prepare_cached("SELECT a.id, p.tenant FROM annotators a JOIN projects p ON p.id = a.project WHERE a.token_hash = ?1")?.query_row([hash], |r| Ok(Principal::Annotator { id: r.get(0)?, tenant: r.get(1)? })).optional()
        })
    }
}

