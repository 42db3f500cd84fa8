//! The embedded store: one SQLite file in WAL mode with `synchronous=FULL`, so a commit is on
//! disk before anyone is told of it.
//!
//! One writer thread owns the write connection and the decision cores (`state`). Requests reach
//! it through a bounded channel with a reply slot each. It takes the first request waiting, then
//! every request already queued behind it (up to [`MAX_BATCH`]), runs them in one transaction
//! with a savepoint each (a refused request rolls back alone), commits once (one fsync for the
//! batch) and only then answers every caller: durable group commit. A full channel answers 503
//! with Retry-After. When something falls due (a lease's end, a timer) the writer wakes for it
//! on its own: lease expiry is an active timer, not a lazy clean-up.
//!
//! Readers use their own read-only connections and never see the cores.

use super::{LeaseRow, Message, Reads, Row, TaskQuery, WriteTx};
use crate::api;
use crate::auth::Keys;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::log::Entry;
use crate::metrics::Metrics;
use crate::ops::{self, Failure, Op, Principal, Reply};
use crate::project::Settings;
use crate::state::{DueWhat, ProjectState, State};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The most requests one commit carries.
pub const MAX_BATCH: usize = 512;
/// Requests that may wait for the writer before new ones get 503.
pub const QUEUE: usize = 8192;

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
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '1');
"#;

type Job = (Op, Option<oneshot::Sender<Result<Reply, ApiError>>>);

/// The SQLite store: the writer's queue and a pool of read connections.
pub struct SqliteStore {
    path: PathBuf,
    queue: Mutex<Option<SyncSender<Job>>>,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Stream names of each project, for reads.
    streams: Mutex<std::collections::HashMap<i64, Vec<String>>>,
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

impl SqliteStore {
    /// Opens (or creates) the store, rebuilds every project's core from its log, and starts the
    /// writer thread.
    pub fn open(path: &Path, clock: Arc<dyn Clock>, keys: Arc<Keys>, metrics: Arc<Metrics>) -> anyhow::Result<Arc<SqliteStore>> {
        let conn = open_write(path).map_err(|e| anyhow::anyhow!("cannot open the store {}: {e}", path.display()))?;
        let started = Instant::now();
        let state = load(&conn, &keys).map_err(|e| anyhow::anyhow!("cannot rebuild state from {}: {}", path.display(), e.body.message))?;
        tracing::info!(projects = state.projects.len(), ms = started.elapsed().as_millis() as u64, "state rebuilt from the store");
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE);
        let writer_path = path.to_path_buf();
        let handle = std::thread::Builder::new().name("tessera-writer".into()).spawn(move || writer(conn, writer_path, state, rx, clock, keys, metrics))?;
        Ok(Arc::new(SqliteStore { path: path.to_path_buf(), queue: Mutex::new(Some(tx)), readers: Mutex::new(Vec::new()), writer: Mutex::new(Some(handle)), streams: Mutex::new(Default::default()) }))
    }

    /// Queues a write; the answer comes once its batch is on disk.
    pub fn submit(&self, op: Op) -> Result<oneshot::Receiver<Result<Reply, ApiError>>, ApiError> {
        let (tx, rx) = oneshot::channel();
        let q = self.queue.lock().expect("queue lock");
        let Some(q) = q.as_ref() else { return Err(ApiError::unavailable("the server is shutting down")) };
        match q.try_send((op, Some(tx))) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(ApiError::unavailable("the write queue is full; retry shortly")),
            Err(TrySendError::Disconnected(_)) => Err(ApiError::unavailable("the writer stopped")),
        }
    }

    /// Queues a write and waits for it (outside an async context: tests, the delivery thread).
    pub fn write_blocking(&self, op: Op) -> Result<Reply, ApiError> {
        let rx = self.submit(op)?;
        rx.blocking_recv().map_err(|_| ApiError::unavailable("the writer stopped"))?
    }

    /// Stops taking writes, lets the writer finish what is queued, and waits for it.
    pub fn close(&self) {
        self.queue.lock().expect("queue lock").take();
        if let Some(h) = self.writer.lock().expect("writer lock").take() {
            let _ = h.join();
        }
    }

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
    let rows: Vec<(i64, i64, String, String, i64, i64)> = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)))?.collect::<Result<_, _>>()?;
    for (id, tenant, name, text, lease_us, seed) in rows {
        let settings = Settings::parse(&text, false, lease_us as u64, seed as u64).map_err(|e| ApiError::internal(format!("project {id}: stored settings no longer load: {}", e.body.message)))?;
        let mut p = ProjectState::new(id, tenant, name, Arc::new(settings));
        let mut st = conn.prepare("SELECT id, core_id, token_hash FROM annotators WHERE project = ?1 ORDER BY core_id")?;
        for r in st.query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u32>(1)?, r.get::<_, String>(2)?)))? {
            let (aid, core_id, token) = r?;
            p.annotator_rows.push(aid);
            state.annotators.insert(aid, (id, core_id));
            keys.add(token, Principal::Annotator { id: aid, tenant });
        }
        let mut st = conn.prepare("SELECT id, stream, gold_answer FROM tasks WHERE project = ?1 AND gold_answer IS NOT NULL ORDER BY id")?;
        for r in st.query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, u16>(1)?, r.get::<_, u16>(2)?)))? {
            let (t, stream, answer) = r?;
            if let Some(g) = p.gold.get_mut(stream as usize) {
                g.entry(answer).or_default().push(t);
            }
        }
        // Start-up reads only what is live: golden tasks and pre-labels of tasks not yet settled
        // (partial indexes; a settled task's pre-label is cleared), never the whole history.
        let mut st = conn.prepare("SELECT id, prelabel FROM tasks WHERE project = ?1 AND prelabel IS NOT NULL")?;
        for r in st.query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))? {
            let (t, pl) = r?;
            if let Ok(pl) = serde_json::from_str::<api::PreLabel>(&pl) {
                p.prelabels.insert(t as u64, (pl.label, pl.confidence));
            }
        }
        // Replay the log through the core.
        let mut due = Vec::new();
        let mut st = conn.prepare("SELECT seq, at_us, entry FROM log WHERE project = ?1 ORDER BY seq")?;
        let mut rows = st.query([id])?;
        while let Some(r) = rows.next()? {
            let (seq, at, text): (u64, u64, String) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let entry: Entry = serde_json::from_str(&text).map_err(|e| ApiError::internal(format!("project {id}: log entry {seq} does not parse: {e}")))?;
            if let Entry::Core { command: tessera_engine::core::Command::PreLabelled { task, .. } } = &entry {
                p.prelabels.remove(&task.0);
            }
            p.apply(&entry, seq, at, &mut due).map_err(|e| ApiError::internal(format!("project {id}: log entry {seq}: {e}")))?;
            if due.len() >= 1 << 16 {
                // Keep only what is still pending, so replaying a long history stays small.
                due.retain(|(_, w)| match w {
                    DueWhat::Lease(a) => p.leases.contains_key(a),
                    other => p.timers.contains(other),
                });
            }
        }
        // Leases come back below with their stored expiries; timers only if still pending.
        due.retain(|(_, w)| !matches!(w, DueWhat::Lease(_)) && p.timers.contains(w));
        // Leases as stored: the golden task handed out and the expiry heartbeats moved.
        let mut st = conn.prepare("SELECT assignment, task, expires_us FROM leases WHERE project = ?1 AND state = 'open'")?;
        for r in st.query_map([id], |r| Ok((r.get::<_, u64>(0)?, r.get::<_, i64>(1)?, r.get::<_, u64>(2)?)))? {
            let (asg, task, expires) = r?;
            if let Some(l) = p.leases.get_mut(&asg) {
                l.task = task;
                l.expires_us = expires;
                due.push((expires, DueWhat::Lease(asg)));
            }
        }
        state.push_due(id, &mut due);
        state.projects.insert(id, p);
    }
    Ok(state)
}

#[allow(clippy::too_many_arguments)]
fn writer(mut conn: Connection, path: PathBuf, mut state: State, rx: mpsc::Receiver<Job>, clock: Arc<dyn Clock>, keys: Arc<Keys>, metrics: Arc<Metrics>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut metrics_due = Instant::now();
    let mut gauges_stale = true;
    loop {
        if gauges_stale && metrics_due.elapsed() >= Duration::from_millis(200) {
            // Gauges at most five times a second, and within a second of any change (the
            // writer wakes at least once a second).
            metrics_due = Instant::now();
            gauges_stale = false;
            let queues = state.projects.values().map(|p| (p.id, p.core.queue_len(), p.core.live_tasks(), p.leases.len())).collect();
            let streams = state.projects.values().flat_map(|p| p.settings.setup.streams.iter().enumerate().map(move |(i, s)| (p.id, s.name.clone(), p.core.queue_len_of(i as u16)))).collect();
            metrics.set_queues(queues, streams);
        }
        let now = clock.now_us();
        let wait = match state.next_due() {
            Some(at) if at <= now => Duration::ZERO,
            Some(at) => Duration::from_micros((at - now).min(1_000_000)),
            None => Duration::from_secs(1),
        };
        let wait = if gauges_stale { wait.min(Duration::from_millis(200)) } else { wait };
        match rx.recv_timeout(wait) {
            Ok(job) => batch.push(job),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let now = clock.now_us();
        // What fell due goes first: an expiry at or before `now` happens before the requests
        // that arrive at `now`.
        if state.next_due().is_some_and(|at| at <= now) {
            batch.insert(0, (Op::Tick, None));
        }
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        let n = batch.len();
        let (replies, keys_added, poisoned) = run_batch(&mut conn, &mut state, &mut batch, now);
        if poisoned {
            tracing::error!("a write failed after its decision: rolled back; rebuilding state from the store");
            metrics.poisoned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match open_write(&path).map_err(ApiError::from).and_then(|c| load(&c, &keys).map(|s| (c, s))) {
                Ok((c, s)) => {
                    conn = c;
                    state = s;
                }
                Err(e) => {
                    tracing::error!(error = %e.body.message, "cannot rebuild state; the writer stops");
                    for (_, reply) in replies {
                        if let Some(r) = reply {
                            let _ = r.send(Err(ApiError::unavailable("the store failed")));
                        }
                    }
                    return;
                }
            }
        } else {
            for (h, who) in keys_added {
                keys.add(h, who);
            }
        }
        metrics.observe_batch(n, started.elapsed());
        gauges_stale = true;
        tracing::debug!(ops = n, ms = started.elapsed().as_secs_f64() * 1e3, "batch committed");
        for (result, reply) in replies {
            if let Some(r) = reply {
                let _ = r.send(if poisoned { Err(ApiError::unavailable("the store failed; retry")) } else { result });
            }
        }
    }
    // Drained: the channel is closed and every queued write was answered.
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
}

type Answered = (Result<Reply, ApiError>, Option<oneshot::Sender<Result<Reply, ApiError>>>);

/// Runs a batch in one transaction; returns each caller's answer, the keys to learn, and
/// whether the batch was poisoned (rolled back).
fn run_batch(conn: &mut Connection, state: &mut State, batch: &mut Vec<Job>, now: u64) -> (Vec<Answered>, Vec<(String, Principal)>, bool) {
    let mut out = Vec::with_capacity(batch.len());
    let mut keys = Vec::new();
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(t) => t,
        Err(e) => {
            let e = ApiError::from(e);
            return (batch.drain(..).map(|(_, r)| (Err(e.clone()), r)).collect(), keys, false);
        }
    };
    let mut poisoned = false;
    for (op, reply) in batch.drain(..) {
        if poisoned {
            out.push((Err(ApiError::unavailable("the store failed; retry")), reply));
            continue;
        }
        if let Err(e) = tx.prepare_cached("SAVEPOINT op").and_then(|mut s| s.execute([])) {
            poisoned = true;
            out.push((Err(ApiError::from(e)), reply));
            continue;
        }
        let mut w = SqlTx { tx: &tx };
        let mut added = Vec::new();
        match ops::execute(state, &mut w, op, now, &mut added) {
            Ok(r) => {
                let _ = tx.prepare_cached("RELEASE op").and_then(|mut s| s.execute([]));
                keys.extend(added);
                let r = match r {
                    Reply::Refused(e) => Err(e),
                    r => Ok(r),
                };
                out.push((r, reply));
            }
            Err(Failure::Refused(e)) => {
                let _ = tx.execute_batch("ROLLBACK TO op; RELEASE op");
                out.push((Err(e), reply));
            }
            Err(Failure::Poisoned(e)) => {
                poisoned = true;
                out.push((Err(e), reply));
            }
        }
    }
    if poisoned {
        let _ = tx.rollback();
        return (out, Vec::new(), true);
    }
    if let Err(e) = tx.commit() {
        tracing::error!(error = %e, "commit failed");
        return (out, Vec::new(), true);
    }
    (out, keys, false)
}

/// A write transaction on the writer's connection.
struct SqlTx<'a> {
    tx: &'a Transaction<'a>,
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
                if url.is_some() {
                    let event_type = if finals > 1 { "label.updated" } else { "label.final" };
                    let body = serde_json::json!({
                        "type": event_type,
                        "timestamp": crate::webhooks::rfc3339(at_us),
                        "data": { "task_id": task, "project_id": project, "unique_id": unique, "label": label, "confidence": confidence, "votes": serde_json::from_str::<serde_json::Value>(&votes).unwrap_or_default(), "posteriors": serde_json::from_str::<serde_json::Value>(&posteriors).unwrap_or_default(), "finals": finals }
                    })
                    .to_string();
                    tx.prepare_cached("INSERT INTO outbox (task, event_type, body, state, next_us, created_us) VALUES (?1, ?2, ?3, 'pending', ?4, ?4)")?.execute(params![task, event_type, body, at_us as i64])?;
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
}

impl SqliteStore {
    pub fn project_name(&self, project: i64) -> Result<String, ApiError> {
        self.with_reader(|c| c.prepare_cached("SELECT name FROM projects WHERE id = ?1")?.query_row([project], |r| r.get(0)))
    }
    pub fn project_count(&self) -> Result<usize, ApiError> {
        self.with_reader(|c| c.prepare_cached("SELECT COUNT(*) FROM projects")?.query_row([], |r| r.get::<_, i64>(0)).map(|n| n as usize))
    }

    /// A project's settings and its annotators' external ids by core id (the trace's names).
    pub fn project_for_replay(&self, tenant: i64, project: i64) -> Result<Option<(Settings, Vec<String>)>, ApiError> {
        self.with_reader(|c| {
            let row: Option<(String, i64, i64)> = c.prepare_cached("SELECT settings, lease_us, seed FROM projects WHERE id = ?1 AND tenant = ?2")?.query_row(params![project, tenant], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
            let Some((text, lease, seed)) = row else { return Ok(None) };
            let names: Vec<String> = c.prepare_cached("SELECT external_id FROM annotators WHERE project = ?1 ORDER BY core_id")?.query_map([project], |r| r.get(0))?.collect::<Result<_, _>>()?;
            Ok(Some((text, lease, seed, names)))
        })?
        .map(|(text, lease, seed, names)| Settings::parse(&text, false, lease as u64, seed as u64).map(|s| (s, names)))
        .transpose()
    }
}
