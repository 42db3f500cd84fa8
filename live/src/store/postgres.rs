//! The shared store: PostgreSQL, so that any number of `serve` nodes dispatch from one database.
//!
//! Every node keeps every project's core in memory, as with SQLite, and they agree because they
//! share one command log. A write transaction first takes the writers' advisory lock
//! (`pg_advisory_xact_lock`), then catches up: it reads what other nodes committed since this
//! node last looked (log entries by their change number, new projects, people, golden tasks and
//! pre-labels, leases opened or extended, API keys) and feeds it to the same functions a
//! start-up uses ([`super::replay`]). Only then does it decide, write and commit; the lock is
//! released at commit. So each decision is taken on the whole store as of that moment (a routing
//! policy that compares tasks or people sees every task and every person, whichever node the
//! request reached: the nodes decide exactly as one server would), the log
//! has one order that every node replays identically, and no slot can go to two people: the
//! lease is a core decision over a log that has no gaps and no forks (`(project, seq)` is the
//! primary key, so even a writer without the lock could not append a second entry at a place
//! already taken).
//!
//! Why one lock and not row locks with SKIP LOCKED: the core's quality decisions (consensus,
//! bans, trust, re-opens) depend on the order of every answer, so the nodes need one order of
//! everything anyway; SKIP LOCKED on task rows would let two nodes decide at once on different
//! histories. The lock is held for one group-committed batch (tens to hundreds of requests), so
//! nodes take turns per batch, not per request. The cost and the way past it (a lock and a log per
//! project) are measured and argued in `benches/RESULTS.md`.
//!
//! Lease expiry and timers fire on whichever node's writer gets there first: each node's writer
//! looks at the store twice a second when idle, so the leases of a node that died expire on the
//! others; a fired expiry is a log entry, so the other nodes, catching up, never fire it again.
//! A connection that dies releases the lock (PostgreSQL ends its transaction), and
//! `idle_in_transaction_session_timeout` ends one that hangs.

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
use crate::state::{DueWhat, State};
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls};
use r2d2_postgres::PostgresConnectionManager;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod embedded {
    refinery::embed_migrations!("migrations");
}

/// The writers' advisory lock ("tessera" in ASCII).
const WRITE_LOCK: i64 = 0x7465_7373_6572_61;
/// Held while migrations run, so that nodes starting together migrate once.
const MIGRATE_LOCK: i64 = WRITE_LOCK + 1;

/// Whether `db` names a PostgreSQL database rather than a SQLite file.
pub fn is_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// `server` (`postgres://user@host:port[/database][?options]`) with its database replaced by `name`.
pub fn database_url(server: &str, name: &str) -> String {
    let (head, query) = server.split_once('?').map_or((server, None), |(h, q)| (h, Some(q)));
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let root = match head[scheme_end..].find('/') {
        Some(i) => &head[..scheme_end + i],
        None => head,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Creates database `name` (a plain identifier) on the server `server` names, dropping it first
/// when `fresh`, else keeping one that exists; returns its URL. For tests and benchmarks.
pub fn create_database(server: &str, name: &str, fresh: bool) -> anyhow::Result<String> {
    anyhow::ensure!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "{name:?} is not a plain database name");
    let mut c = Client::connect(&database_url(server, "postgres"), NoTls).map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL at {}: {}", redact(server), describe(&e)))?;
    if fresh {
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))?;
    }
    if c.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])?.is_none() {
        c.batch_execute(&format!("CREATE DATABASE {name}"))?;
    }
    Ok(database_url(server, name))
}

/// `db` with any password replaced, for logs.
pub fn redact(db: &str) -> String {
    if !is_url(db) {
        return db.to_string();
    }
    match (db.find("://"), db.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let cred = &db[s + 3..at];
            match cred.find(':') {
                Some(c) => format!("{}{}:***{}", &db[..s + 3], &cred[..c], &db[at..]),
                None => db.to_string(),
            }
        }
        _ => db.to_string(),
    }
}

/// Every connection's settings: a statement timeout (a stuck query fails the request with 503
/// instead of hanging it; waiting for the writers' lock counts), a lock timeout, and an
/// idle-in-transaction timeout (a node that stops mid-transaction lets go of the writers' lock).
const OPTIONS: &str = "-c statement_timeout=15000 -c idle_in_transaction_session_timeout=30000 -c lock_timeout=15000";

/// The readers' connection settings (and a connect timeout).
fn config(url: &str) -> anyhow::Result<Config> {
    let mut c = Config::from_str(url).map_err(|e| anyhow::anyhow!("--db {}: not a PostgreSQL URL: {e}", redact(url)))?;
    c.connect_timeout(Duration::from_secs(5));
    c.keepalives_idle(Duration::from_secs(10));
    c.application_name("tessera");
    c.options(OPTIONS);
    Ok(c)
}

/// A PostgreSQL error as a person reads it: the server's message and SQLSTATE when it sent one
/// (the driver's own text is only "db error").
pub fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

impl From<postgres::Error> for ApiError {
    fn from(e: postgres::Error) -> Self {
        let text = describe(&e);
        tracing::error!(error = %text, "store error");
        ApiError::unavailable(format!("the store failed: {text}"))
    }
}

impl From<r2d2::Error> for ApiError {
    fn from(e: r2d2::Error) -> Self {
        tracing::warn!(error = %e, "no database connection");
        ApiError::unavailable(format!("the store is unavailable: {e}"))
    }
}

/// Opens the database at `url` (running migrations), rebuilds every project's core from it, and
/// starts the writer. `publish_labels`: final labels also become label events for the queue.
pub fn open(url: &str, clock: Arc<dyn Clock>, keys: Arc<Keys>, metrics: Arc<Metrics>, publish_labels: bool) -> anyhow::Result<Arc<Store>> {
    let cfg = config(url)?;
    let mut client = cfg.connect(NoTls).map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL at {}: {}", redact(url), describe(&e)))?;
    migrate(&mut client).map_err(|e| anyhow::anyhow!("migrating {}: {e}", redact(url)))?;
    let pool = r2d2::Pool::builder().max_size(16).min_idle(Some(0)).connection_timeout(Duration::from_secs(5)).build_unchecked(PostgresConnectionManager::new(cfg.clone(), NoTls));
    drop(client);
    let reads = Arc::new(PgReads { pool, streams: Mutex::new(HashMap::new()) });
    Store::start(PgBackend::new(url, publish_labels)?, reads, clock, keys, metrics)
}

/// Brings the schema to the newest version (refinery; `migrations/`), once however many nodes
/// start together.
pub fn migrate(client: &mut Client) -> anyhow::Result<()> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])?;
    let report = embedded::migrations::runner().run(client);
    client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])?;
    let report = report?;
    for m in report.applied_migrations() {
        tracing::info!(migration = %m, "schema migrated");
    }
    Ok(())
}

/// How far this node has read the store: the last change number and the largest ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Marks {
    changes: i64,
    project: i64,
    annotator: i64,
    task: i64,
}

/// The writer's side: one connection (tokio-postgres, on a runtime of its own, so that writes
/// are pipelined: a write is sent at once and its answer read later, so an operation costs a
/// round trip to the database only where it reads), its prepared statements, and what it has read.
pub struct PgBackend {
    cfg: tokio_postgres::Config,
    rt: tokio::runtime::Runtime,
    client: Option<tokio_postgres::Client>,
    statements: HashMap<&'static str, tokio_postgres::Statement>,
    seen: Marks,
    publish_labels: bool,
}

impl PgBackend {
    fn new(url: &str, publish_labels: bool) -> anyhow::Result<PgBackend> {
        let mut cfg = tokio_postgres::Config::from_str(url).map_err(|e| anyhow::anyhow!("--db {}: not a PostgreSQL URL: {e}", redact(url)))?;
        cfg.connect_timeout(Duration::from_secs(5));
        cfg.keepalives_idle(Duration::from_secs(10));
        cfg.application_name("tessera-writer");
        cfg.options(OPTIONS);
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        Ok(PgBackend { cfg, rt, client: None, statements: HashMap::new(), seen: Marks::default(), publish_labels })
    }

    /// The connection, made again if it dropped (its prepared statements go with it).
    fn connect(&mut self) -> Result<(), ApiError> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        self.statements.clear();
        self.client = None;
        let (client, connection) = self.rt.block_on(self.cfg.connect(tokio_postgres::NoTls))?;
        self.rt.spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %describe(&e), "the writer's connection to PostgreSQL ended");
            }
        });
        tracing::info!("writer connected to PostgreSQL");
        self.client = Some(client);
        Ok(())
    }
}

/// A batch's new marks, read before its COMMIT: with a change number taken (it wrote) or not.
const MARKS_AND_CHANGE: &str = "SELECT nextval('changes'), COALESCE((SELECT max(id) FROM projects), 0), COALESCE((SELECT max(id) FROM annotators), 0), COALESCE((SELECT max(id) FROM tasks), 0)";
const MARKS_ONLY: &str = "SELECT 0::bigint, COALESCE((SELECT max(id) FROM projects), 0), COALESCE((SELECT max(id) FROM annotators), 0), COALESCE((SELECT max(id) FROM tasks), 0)";
const CHANGES: &str = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM changes";

/// `sql` prepared on the writer's connection (once per connection).
fn prepared(rt: &tokio::runtime::Runtime, c: &tokio_postgres::Client, statements: &mut HashMap<&'static str, tokio_postgres::Statement>, sql: &'static str) -> Result<tokio_postgres::Statement, ApiError> {
    if let Some(s) = statements.get(sql) {
        return Ok(s.clone());
    }
    let s = rt.block_on(c.prepare(sql))?;
    statements.insert(sql, s.clone());
    Ok(s)
}

/// Reads what was committed after `from` and feeds it to `state`.
async fn catch_up(c: &tokio_postgres::Client, state: &mut State, keys: &Keys, from: Marks) -> Result<(), ApiError> {
    use futures_util::TryStreamExt;
    for r in c.query("SELECT hash, tenant FROM api_keys WHERE seq > $1", &[&from.changes]).await? {
        keys.add(r.get(0), Principal::Tenant(r.get(1)));
    }
    for r in c.query("SELECT id, tenant, name, settings, lease_us, seed FROM projects WHERE id > $1 ORDER BY id", &[&from.project]).await? {
        replay::add_project(state, ProjectRow { id: r.get(0), tenant: r.get(1), name: r.get(2), settings: r.get(3), lease_us: r.get::<_, i64>(4) as u64, seed: r.get::<_, i64>(5) as u64 })?;
    }
    for r in c.query("SELECT id, project, core_id, token_hash FROM annotators WHERE id > $1 ORDER BY id", &[&from.annotator]).await? {
        replay::add_annotator(state, keys, r.get(1), r.get(0), r.get::<_, i64>(2) as u32, r.get(3))?;
    }
    for r in c.query("SELECT id, project, stream, gold_answer, prelabel FROM tasks WHERE id > $1 AND (gold_answer IS NOT NULL OR prelabel IS NOT NULL) ORDER BY id", &[&from.task]).await? {
        replay::add_task(state, r.get(1), r.get(0), r.get::<_, i64>(2) as u16, r.get::<_, Option<i64>>(3).map(|g| g as u16), r.get::<_, Option<String>>(4).as_deref());
    }
    let mut due: HashMap<i64, Vec<(u64, DueWhat)>> = HashMap::new();
    let params: [&(dyn ToSql + Sync); 1] = [&from.changes];
    let rows = c.query_raw("SELECT project, seq, at_us, entry FROM log WHERE gseq > $1 ORDER BY gseq", params).await?;
    futures_util::pin_mut!(rows);
    while let Some(r) = rows.try_next().await? {
        let project: i64 = r.get(0);
        replay::replay(state, project, r.get::<_, i64>(1) as u64, r.get::<_, i64>(2) as u64, r.get(3), due.entry(project).or_default())?;
    }
    // Leases come back with their stored tasks and expiries; timers only if still pending.
    for (project, d) in due.iter_mut() {
        replay::keep_pending_timers(state, *project, d);
    }
    for r in c.query("SELECT project, assignment, task, expires_us FROM leases WHERE touched > $1 AND state = 'open'", &[&from.changes]).await? {
        let project: i64 = r.get(0);
        replay::open_lease(state, project, r.get::<_, i64>(1) as u64, r.get(2), r.get::<_, i64>(3) as u64, due.entry(project).or_default());
    }
    for (project, mut d) in due {
        state.push_due(project, &mut d);
    }
    Ok(())
}

impl Backend for PgBackend {
    fn load(&mut self, keys: &Keys) -> Result<State, ApiError> {
        self.connect()?;
        let c = self.client.as_ref().expect("connected");
        // One snapshot: what it shows is a prefix of the change order (changes are numbered
        // under the writers' lock), so catching up later from its marks misses nothing. A long
        // history streams for longer than a request may take: no statement timeout here.
        let (state, marks) = self.rt.block_on(async {
            c.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL statement_timeout = 0").await?;
            let r = c
                .query_one(
                    "SELECT GREATEST(COALESCE((SELECT max(gseq) FROM log), 0), COALESCE((SELECT max(touched) FROM leases), 0), COALESCE((SELECT max(seq) FROM api_keys), 0)), \
                     COALESCE((SELECT max(id) FROM projects), 0), COALESCE((SELECT max(id) FROM annotators), 0), COALESCE((SELECT max(id) FROM tasks), 0)",
                    &[],
                )
                .await?;
            let marks = Marks { changes: r.get(0), project: r.get(1), annotator: r.get(2), task: r.get(3) };
            let mut state = State::default();
            let caught = catch_up(c, &mut state, keys, Marks::default()).await;
            let _ = c.batch_execute(if caught.is_ok() { "COMMIT" } else { "ROLLBACK" }).await;
            caught.map(|()| (state, marks))
        })?;
        self.seen = marks;
        Ok(state)
    }

    fn transact(&mut self, state: &mut State, keys: &Keys, f: &mut dyn FnMut(&mut State, &mut dyn OpTx) -> bool) -> Outcome {
        if let Err(e) = self.connect() {
            tracing::warn!(error = %e.body.message, "no connection to PostgreSQL");
            return Outcome::NotStarted;
        }
        let seen = self.seen;
        let (rt, c) = (&self.rt, self.client.as_ref().expect("connected"));
        // Statements pipelined behind others must be prepared beforehand: an unprepared one
        // waits for its Parse to be answered and would be sent after what follows it.
        let (changes_st, marks_st) = match (prepared(rt, c, &mut self.statements, CHANGES), prepared(rt, c, &mut self.statements, MARKS_AND_CHANGE), prepared(rt, c, &mut self.statements, MARKS_ONLY)) {
            (Ok(a), Ok(b), Ok(m)) => (a, (b, m)),
            _ => return Outcome::NotStarted,
        };
        // BEGIN, the writers' lock, and the last change number: one round trip.
        let started = rt.block_on(async {
            let sql = format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})");
            let begin = c.batch_execute(&sql);
            let last = c.query_one(&changes_st, &[]);
            let (b, l) = futures_util::future::join(begin, last).await;
            b?;
            Ok::<i64, tokio_postgres::Error>(l?.get(0))
        });
        let last = match started {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %describe(&e), "cannot begin a transaction and take the writers' lock");
                let _ = rt.block_on(c.batch_execute("ROLLBACK"));
                return Outcome::NotStarted;
            }
        };
        let mut marks = seen;
        if last != seen.changes {
            if let Err(e) = rt.block_on(catch_up(c, state, keys, seen)) {
                tracing::error!(error = %e.body.message, "cannot catch up with the store");
                let _ = rt.block_on(c.batch_execute("ROLLBACK"));
                return Outcome::Broken;
            }
            marks.changes = last;
        }
        let mut w = PgTx { rt, client: c, statements: &mut self.statements, pending: Vec::new(), writes: 0, op_writes: 0, failed: false, ids: HashMap::new(), publish_labels: self.publish_labels };
        let poisoned = f(state, &mut w);
        let wrote = w.writes > 0;
        let flushed = w.flush();
        if poisoned || flushed.is_err() || w.failed {
            drop(w);
            let _ = rt.block_on(c.batch_execute("ROLLBACK"));
            return Outcome::Broken;
        }
        drop(w);
        // New marks (this batch's own rows are read already; a batch that wrote takes a change
        // number, so the other nodes know to look) and COMMIT: one round trip.
        let marks_st = if wrote { &marks_st.0 } else { &marks_st.1 };
        let ended = rt.block_on(async {
            let m = c.query_one(marks_st, &[]);
            let commit = c.batch_execute("COMMIT");
            let (m, commit) = futures_util::future::join(m, commit).await;
            // COMMIT of a transaction that failed answers ROLLBACK, not an error: the marks query
            // before it fails in that case, so a failed transaction is never taken as committed.
            let m = m?;
            commit?;
            Ok::<_, tokio_postgres::Error>(m)
        });
        match ended {
            Ok(r) => {
                let changes = if wrote { r.get(0) } else { marks.changes };
                self.seen = Marks { changes, project: r.get(1), annotator: r.get(2), task: r.get(3) };
                Outcome::Committed
            }
            Err(e) => {
                tracing::error!(error = %describe(&e), "commit failed");
                Outcome::Broken
            }
        }
    }

    fn stale(&mut self) -> bool {
        if self.connect().is_err() {
            // The writer tries again; a transaction reconnects.
            return true;
        }
        let c = self.client.as_ref().expect("connected");
        match self.rt.block_on(c.query_one(CHANGES, &[])) {
            Ok(r) => r.get::<_, i64>(0) != self.seen.changes,
            Err(_) => true,
        }
    }
}

type Pending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<u64, tokio_postgres::Error>> + 'a>>;
type Param = Box<dyn ToSql + Sync + Send>;

/// A write transaction on the writer's connection. A write is sent when it is made and its
/// answer read at the end (`flush`): PostgreSQL runs a connection's statements in order, so a
/// read sent later sees every write sent before it. Any failed statement fails the batch.
struct PgTx<'a> {
    rt: &'a tokio::runtime::Runtime,
    client: &'a tokio_postgres::Client,
    statements: &'a mut HashMap<&'static str, tokio_postgres::Statement>,
    pending: Vec<Pending<'a>>,
    writes: usize,
    /// `writes` when the current operation began.
    op_writes: usize,
    failed: bool,
    /// The next id of each table, read once per transaction (the writers' lock keeps it).
    ids: HashMap<&'static str, i64>,
    publish_labels: bool,
}

impl<'a> PgTx<'a> {
    /// A prepared statement (prepared once per connection).
    fn st(&mut self, sql: &'static str) -> Result<tokio_postgres::Statement, ApiError> {
        prepared(self.rt, self.client, self.statements, sql).inspect_err(|_| self.failed = true)
    }
    /// Sends a write now; its answer is read by `flush`.
    fn exec(&mut self, sql: &'static str, params: Vec<Param>) -> Result<(), ApiError> {
        let st = self.st(sql)?;
        let client = self.client;
        let mut fut: Pending<'a> = Box::pin(async move { client.execute_raw(&st, params).await });
        self.writes += 1;
        // Polled once: the request is queued on the connection now, in order.
        match self.rt.block_on(std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx)))) {
            std::task::Poll::Ready(Err(e)) => {
                self.failed = true;
                Err(e.into())
            }
            std::task::Poll::Ready(Ok(_)) => Ok(()),
            std::task::Poll::Pending => {
                self.pending.push(fut);
                if self.pending.len() >= 4096 {
                    self.flush()?;
                }
                Ok(())
            }
        }
    }
    /// Waits for every write sent so far.
    fn flush(&mut self) -> Result<(), ApiError> {
        let pending = std::mem::take(&mut self.pending);
        let first = self.rt.block_on(async move {
            let mut first = None;
            for f in pending {
                if let Err(e) = f.await {
                    first.get_or_insert(e);
                }
            }
            first
        });
        match first {
            Some(e) => {
                self.failed = true;
                Err(e.into())
            }
            None => Ok(()),
        }
    }
    /// A read: sent after the writes before it, answered now.
    fn opt(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<Option<tokio_postgres::Row>, ApiError> {
        let st = self.st(sql)?;
        self.rt.block_on(self.client.query_opt(&st, params)).inspect_err(|_| self.failed = true).map_err(ApiError::from)
    }
    fn one(&mut self, sql: &'static str, params: &[&(dyn ToSql + Sync)]) -> Result<tokio_postgres::Row, ApiError> {
        self.writes += 1;
        let st = self.st(sql)?;
        self.rt.block_on(self.client.query_one(&st, params)).inspect_err(|_| self.failed = true).map_err(ApiError::from)
    }
}

impl OpTx for PgTx<'_> {
    // No savepoints (each would be a statement and a round trip): an operation refuses before
    // it writes, and one that refused after writing fails the batch, which is then rebuilt.
    fn savepoint(&mut self) -> Result<(), ApiError> {
        self.op_writes = self.writes;
        Ok(())
    }
    fn release(&mut self) -> Result<(), ApiError> {
        Ok(())
    }
    fn rollback_to(&mut self) -> Result<(), ApiError> {
        if self.writes > self.op_writes || self.failed {
            return Err(ApiError::internal("an operation refused after it wrote"));
        }
        Ok(())
    }
}

fn i(x: impl TryInto<i64>) -> i64 {
    x.try_into().unwrap_or(i64::MAX)
}

fn b<T: ToSql + Sync + Send + 'static>(x: T) -> Param {
    Box::new(x)
}

impl WriteTx for PgTx<'_> {
    fn next_id(&mut self, table: &'static str) -> Result<i64, ApiError> {
        if let Some(n) = self.ids.get_mut(table) {
            *n += 1;
            return Ok(*n - 1);
        }
        let sql = match table {
            "tenants" => "SELECT COALESCE(MAX(id), 0) + 1 FROM tenants",
            "projects" => "SELECT COALESCE(MAX(id), 0) + 1 FROM projects",
            "annotators" => "SELECT COALESCE(MAX(id), 0) + 1 FROM annotators",
            "tasks" => "SELECT COALESCE(MAX(id), 0) + 1 FROM tasks",
            other => return Err(ApiError::internal(format!("no id sequence for {other}"))),
        };
        let n: i64 = self.opt(sql, &[])?.map_or(1, |r| r.get(0));
        self.ids.insert(table, n + 1);
        Ok(n)
    }
    fn task_by_unique(&mut self, project: i64, unique_id: &str) -> Result<Option<i64>, ApiError> {
        Ok(self.opt("SELECT id FROM tasks WHERE project = $1 AND unique_id = $2", &[&project, &unique_id])?.map(|r| r.get(0)))
    }
    fn idempotent(&mut self, tenant: i64, key: &str, route: &str) -> Result<Option<(String, u16, String)>, ApiError> {
        Ok(self.opt("SELECT body_hash, status, response FROM idempotency WHERE tenant = $1 AND key = $2 AND route = $3", &[&tenant, &key, &route])?.map(|r| (r.get(0), r.get::<_, i64>(1) as u16, r.get(2))))
    }
    fn submission(&mut self, project: i64, assignment: u64) -> Result<Option<(String, String)>, ApiError> {
        Ok(self.opt("SELECT answer, response FROM submissions WHERE project = $1 AND assignment = $2", &[&project, &i(assignment)])?.map(|r| (r.get(0), r.get(1))))
    }
    fn lease(&mut self, project: i64, assignment: u64) -> Result<Option<LeaseRow>, ApiError> {
        Ok(self.opt("SELECT annotator, task FROM leases WHERE project = $1 AND assignment = $2", &[&project, &i(assignment)])?.map(|r| LeaseRow { annotator: r.get(0), task: r.get(1) }))
    }
    fn tenant_exists(&mut self, tenant: i64) -> Result<bool, ApiError> {
        Ok(self.opt("SELECT 1 FROM tenants WHERE id = $1", &[&tenant])?.is_some())
    }
    fn task_project(&mut self, task: i64) -> Result<Option<i64>, ApiError> {
        Ok(self.opt("SELECT project FROM tasks WHERE id = $1", &[&task])?.map(|r| r.get(0)))
    }
    fn payload(&mut self, task: i64) -> Result<String, ApiError> {
        self.opt("SELECT payload FROM payloads WHERE task = $1", &[&task])?.map(|r| r.get(0)).ok_or_else(|| ApiError::not_found("task"))
    }
    fn due_messages(&mut self, now_us: u64, limit: usize) -> Result<Vec<Message>, ApiError> {
        let st = self.st(
            "SELECT o.id, t.callback_url, o.event_type, o.body, p.webhook_secret, o.attempts FROM outbox o JOIN tasks t ON t.id = o.task JOIN projects p ON p.id = t.project \
             WHERE o.state = 'pending' AND o.next_us <= $1 ORDER BY o.next_us, o.id LIMIT $2",
        )?;
        let rows = self.rt.block_on(self.client.query(&st, &[&i(now_us), &i(limit)])).inspect_err(|_| self.failed = true)?;
        Ok(rows.iter().map(|r| Message { id: r.get(0), url: r.get(1), event_type: r.get(2), body: r.get(3), secret: r.get(4), attempts: r.get::<_, i64>(5) as u32 }).collect())
    }
    fn annotator_by_external(&mut self, project: i64, external: &str) -> Result<Option<i64>, ApiError> {
        Ok(self.opt("SELECT id FROM annotators WHERE project = $1 AND external_id = $2", &[&project, &external])?.map(|r| r.get(0)))
    }
    fn put(&mut self, row: Row) -> Result<(), ApiError> {
        match row {
            Row::Log { project, seq, at_us, entry } => self.exec("INSERT INTO log (project, seq, at_us, entry) VALUES ($1, $2, $3, $4)", vec![b(project), b(i(seq)), b(i(at_us)), b(entry)])?,
            Row::Tenant { id, name, at_us } => self.exec("INSERT INTO tenants (id, name, created_us) VALUES ($1, $2, $3)", vec![b(id), b(name), b(i(at_us))])?,
            Row::ApiKey { hash, tenant, at_us } => self.exec("INSERT INTO api_keys (hash, tenant, created_us) VALUES ($1, $2, $3)", vec![b(hash), b(tenant), b(i(at_us))])?,
            Row::Project { id, tenant, name, settings, lease_us, seed, webhook_secret, at_us } => self.exec(
                "INSERT INTO projects (id, tenant, name, settings, lease_us, seed, webhook_secret, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                vec![b(id), b(tenant), b(name), b(settings), b(i(lease_us)), b(seed as i64), b(webhook_secret), b(i(at_us))],
            )?,
            Row::Annotator { id, project, core_id, external_id, token_hash, at_us } => {
                self.exec("INSERT INTO annotators (id, project, core_id, external_id, token_hash, created_us) VALUES ($1, $2, $3, $4, $5, $6)", vec![b(id), b(project), b(i(core_id)), b(external_id), b(token_hash), b(i(at_us))])?
            }
            Row::Task { id, project, stream, unique_id, payload, metadata, priority, deadline_us, callback_url, gold_answer, prelabel, status, at_us } => {
                self.exec(
                    "INSERT INTO tasks (id, project, stream, unique_id, priority, deadline_us, callback_url, gold_answer, prelabel, status, created_us, updated_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                    vec![b(id), b(project), b(i(stream)), b(unique_id), b(priority.map(i)), b(deadline_us.map(i)), b(callback_url), b(gold_answer.map(i)), b(prelabel), b(status), b(i(at_us))],
                )?;
                self.exec("INSERT INTO payloads (task, payload, metadata) VALUES ($1, $2, $3)", vec![b(id), b(payload), b(metadata)])?;
            }
            Row::TaskStatus { task, status, stage, at_us } => {
                if status == "settled" || status == "left_unserved" {
                    self.exec("UPDATE tasks SET status = $2, prelabel = NULL, updated_us = $3 WHERE id = $1", vec![b(task), b(status), b(i(at_us))])?;
                } else {
                    self.exec("UPDATE tasks SET status = $2, stage = COALESCE($3, stage), updated_us = $4 WHERE id = $1", vec![b(task), b(status), b(stage), b(i(at_us))])?;
                }
            }
            Row::Final { task, label, confidence, votes, posteriors, at_us } => {
                let votes = serde_json::to_string(&votes).unwrap_or_default();
                let posteriors = serde_json::to_string(&posteriors).unwrap_or_default();
                let r = self.one(
                    "UPDATE tasks SET status = 'final', stage = NULL, label = $2, confidence = $3, votes = $4, posteriors = $6, finals = finals + 1, updated_us = $5 WHERE id = $1 RETURNING finals, callback_url, project, unique_id",
                    &[&task, &i(label), &(confidence as f64), &votes, &i(at_us), &posteriors],
                )?;
                let (finals, url, project, unique): (i64, Option<String>, i64, Option<String>) = (r.get(0), r.get(1), r.get(2), r.get(3));
                if url.is_some() || self.publish_labels {
                    let event_type = if finals > 1 { "label.updated" } else { "label.final" };
                    let body = crate::webhooks::final_body(event_type, at_us, task, project, unique.as_deref(), label, confidence, &votes, &posteriors, finals as u32);
                    if url.is_some() {
                        self.exec("INSERT INTO outbox (task, event_type, body, state, next_us, created_us) VALUES ($1, $2, $3, 'pending', $4, $4)", vec![b(task), b(event_type), b(body.clone()), b(i(at_us))])?;
                    }
                    if self.publish_labels {
                        self.exec("INSERT INTO label_events (project, task, finals, body) VALUES ($1, $2, $3, $4)", vec![b(project), b(task), b(finals), b(body)])?;
                    }
                }
            }
            Row::Lease { project, assignment, annotator, task, kind, stage, opened_us, expires_us } => self.exec(
                "INSERT INTO leases (project, assignment, annotator, task, kind, stage, opened_us, expires_us, state) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open')",
                vec![b(project), b(i(assignment)), b(annotator), b(task), b(kind), b(i(stage)), b(i(opened_us)), b(i(expires_us))],
            )?,
            Row::LeaseExtended { project, assignment, expires_us } => {
                self.exec("UPDATE leases SET expires_us = $3, touched = nextval('changes') WHERE project = $1 AND assignment = $2", vec![b(project), b(i(assignment)), b(i(expires_us))])?
            }
            Row::LeaseEnded { project, assignment, how, at_us } => self.exec("UPDATE leases SET state = $3, ended_us = $4 WHERE project = $1 AND assignment = $2", vec![b(project), b(i(assignment)), b(how), b(i(at_us))])?,
            Row::Answer { project, assignment, task, annotator, kind, label, accept, fate, late, at_us } => self.exec(
                "INSERT INTO answers (project, assignment, task, annotator, kind, label, accept, fate, late, at_us) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                vec![b(project), b(i(assignment)), b(task), b(annotator), b(kind), b(label.map(i)), b(accept), b(fate), b(late), b(i(at_us))],
            )?,
            Row::Submission { project, assignment, answer, response } => self.exec("INSERT INTO submissions (project, assignment, answer, response) VALUES ($1, $2, $3, $4)", vec![b(project), b(i(assignment)), b(answer), b(response)])?,
            Row::Trust { annotator, trust } => self.exec("UPDATE annotators SET trust = $2 WHERE id = $1", vec![b(annotator), b(trust)])?,
            Row::Banned { annotator, until_us } => self.exec("UPDATE annotators SET banned_until_us = $2 WHERE id = $1", vec![b(annotator), b(until_us.map_or(i64::MAX, i))])?,
            Row::Paid { annotator, usd } => self.exec("UPDATE annotators SET earned_usd = earned_usd + $2 WHERE id = $1", vec![b(annotator), b(usd)])?,
            Row::Idempotent { tenant, key, route, body_hash, status, response, at_us } => self.exec(
                "INSERT INTO idempotency (tenant, key, route, body_hash, status, response, created_us) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                vec![b(tenant), b(key), b(route), b(body_hash), b(i(status)), b(response), b(i(at_us))],
            )?,
            Row::Redeliver { task, at_us } => {
                let n = self.one("WITH u AS (UPDATE outbox SET state = 'pending', next_us = $2, attempts = 0 WHERE id = (SELECT MAX(id) FROM outbox WHERE task = $1) RETURNING 1) SELECT count(*) FROM u", &[&task, &i(at_us)])?.get::<_, i64>(0);
                if n == 0 {
                    // Nothing changed: the refusal leaves the batch whole.
                    self.writes -= 1;
                    return Err(ApiError::conflict("this task has no webhook message to redeliver (no final label yet, or no callback_url)", None));
                }
            }
            Row::Attempt { message, at_us, status, error, duration_ms, next_us, delivered } => {
                self.exec("INSERT INTO outbox_attempts (message, at_us, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5)", vec![b(message), b(i(at_us)), b(status.map(i)), b(error), b(i(duration_ms))])?;
                let state = if delivered {
                    "delivered"
                } else if next_us.is_some() {
                    "pending"
                } else {
                    "exhausted"
                };
                self.exec("UPDATE outbox SET state = $2, attempts = attempts + 1, next_us = $3 WHERE id = $1", vec![b(message), b(state), b(i(next_us.unwrap_or(0)))])?;
            }
            Row::Claim { messages, until_us } => self.exec("UPDATE outbox SET next_us = $2 WHERE id = ANY($1) AND state = 'pending'", vec![b(messages), b(i(until_us))])?,
            Row::Published { ids } => self.exec("UPDATE label_events SET published = true WHERE id = ANY($1)", vec![b(ids)])?,
        }
        Ok(())
    }
}

/// The reads: a pool of connections (r2d2).
pub struct PgReads {
    pool: r2d2::Pool<PostgresConnectionManager<NoTls>>,
    /// Stream names of each project (settings never change once a project exists).
    streams: Mutex<HashMap<i64, Vec<String>>>,
}

const TASK_COLUMNS: &str = "t.id, t.project, t.stream, t.unique_id, t.status, t.stage, t.label, t.confidence, t.finals, t.votes, t.priority, t.deadline_us, t.created_us, t.updated_us, pl.metadata, t.posteriors";

fn task_row(r: &postgres::Row, streams: &dyn Fn(i64, u16) -> String) -> api::Task {
    let project: i64 = r.get(1);
    let stream = r.get::<_, i64>(2) as u16;
    let votes: Option<String> = r.get(9);
    let metadata: Option<String> = r.get(14);
    let posteriors: Option<String> = r.get(15);
    api::Task {
        id: r.get(0),
        project_id: project,
        stream: streams(project, stream),
        status: r.get(4),
        stage: r.get(5),
        unique_id: r.get(3),
        label: r.get::<_, Option<i64>>(6).map(|l| l as u16),
        confidence: r.get::<_, Option<f64>>(7).map(|c| c as f32),
        votes: votes.and_then(|v| serde_json::from_str(&v).ok()),
        posteriors: posteriors.and_then(|v| serde_json::from_str(&v).ok()),
        finals: r.get::<_, i64>(8) as u32,
        priority: r.get::<_, Option<i64>>(10).map(|p| p as u32),
        deadline_us: r.get::<_, Option<i64>>(11).map(|d| d as u64),
        metadata: metadata.and_then(|m| serde_json::from_str(&m).ok()).unwrap_or(serde_json::Value::Null),
        created_us: r.get::<_, i64>(12) as u64,
        updated_us: r.get::<_, i64>(13) as u64,
    }
}

impl PgReads {
    fn conn(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, ApiError> {
        Ok(self.pool.get()?)
    }
    fn stream_names(&self, c: &mut Client) -> Result<impl Fn(i64, u16) -> String, ApiError> {
        let mut cache = self.streams.lock().expect("streams lock");
        let known = cache.keys().max().copied().unwrap_or(0);
        for r in c.query("SELECT id, settings FROM projects WHERE id > $1", &[&known])? {
            let id: i64 = r.get(0);
            if let Ok(s) = Settings::parse(r.get(1), false, 1, 1) {
                cache.insert(id, s.setup.streams.iter().map(|x| x.name.clone()).collect());
            }
        }
        let names = cache.clone();
        Ok(move |p, s| names.get(&p).and_then(|v: &Vec<String>| v.get(s as usize)).cloned().unwrap_or_else(|| format!("stream-{s}")))
    }
}

impl Reads for PgReads {
    fn task(&self, tenant: i64, task: i64) -> Result<Option<api::Task>, ApiError> {
        let mut c = self.conn()?;
        let names = self.stream_names(&mut c)?;
        let r = c.query_opt(&format!("SELECT {TASK_COLUMNS} FROM tasks t JOIN projects p ON p.id = t.project LEFT JOIN payloads pl ON pl.task = t.id WHERE t.id = $1 AND p.tenant = $2"), &[&task, &tenant])?;
        Ok(r.map(|r| task_row(&r, &names)))
    }
    fn tasks(&self, tenant: i64, project: i64, q: &TaskQuery) -> Result<Vec<api::Task>, ApiError> {
        let mut c = self.conn()?;
        let names = self.stream_names(&mut c)?;
        let (after_u, after_id) = q.after.map_or((-1i64, -1i64), |(u, id)| (u as i64, id));
        let since = q.updated_after_us.map_or(-1, |u| u as i64);
        let rows = c.query(
            &format!(
                "SELECT {TASK_COLUMNS} FROM tasks t JOIN projects p ON p.id = t.project LEFT JOIN payloads pl ON pl.task = t.id \
                 WHERE t.project = $1 AND p.tenant = $2 AND t.updated_us > $3 AND (t.updated_us, t.id) > ($4, $5) AND ($6::text IS NULL OR t.status = $6) \
                 ORDER BY t.updated_us, t.id LIMIT $7"
            ),
            &[&project, &tenant, &since, &after_u, &after_id, &q.status, &i(q.limit)],
        )?;
        Ok(rows.iter().map(|r| task_row(r, &names)).collect())
    }
    fn answers(&self, tenant: i64, task: i64) -> Result<Option<Vec<api::AnswerOut>>, ApiError> {
        if self.task(tenant, task)?.is_none() {
            return Ok(None);
        }
        let rows = self.conn()?.query("SELECT assignment, annotator, kind, label, accept, fate, late, at_us FROM answers WHERE task = $1 ORDER BY id", &[&task])?;
        Ok(Some(
            rows.iter()
                .map(|r| api::AnswerOut {
                    assignment_id: r.get::<_, i64>(0) as u64,
                    annotator_id: r.get(1),
                    kind: r.get(2),
                    label: r.get::<_, Option<i64>>(3).map(|l| l as u16),
                    accept: r.get(4),
                    fate: r.get(5),
                    late: r.get(6),
                    at_us: r.get::<_, i64>(7) as u64,
                })
                .collect(),
        ))
    }
    fn deliveries(&self, tenant: i64, task: i64) -> Result<Option<Vec<api::DeliveryOut>>, ApiError> {
        if self.task(tenant, task)?.is_none() {
            return Ok(None);
        }
        let mut c = self.conn()?;
        let mut out = Vec::new();
        for m in c.query("SELECT id, event_type, state FROM outbox WHERE task = $1 ORDER BY id", &[&task])? {
            let id: i64 = m.get(0);
            let attempts = c
                .query("SELECT at_us, status, error, duration_ms FROM outbox_attempts WHERE message = $1 ORDER BY id", &[&id])?
                .iter()
                .map(|r| api::AttemptOut { at_us: r.get::<_, i64>(0) as u64, status: r.get::<_, Option<i64>>(1).map(|s| s as u16), error: r.get(2), duration_ms: r.get::<_, i64>(3) as u64 })
                .collect();
            out.push(api::DeliveryOut { message_id: crate::webhooks::message_id(id), event_type: m.get(1), state: m.get(2), attempts });
        }
        Ok(Some(out))
    }
    fn finals(&self, tenant: i64, project: i64, after: i64, limit: usize) -> Result<Vec<(i64, Option<String>, u16, u16, f32)>, ApiError> {
        let rows = self.conn()?.query(
            "SELECT t.id, t.unique_id, t.stream, t.label, t.confidence FROM tasks t JOIN projects p ON p.id = t.project \
             WHERE t.project = $1 AND p.tenant = $2 AND t.id > $3 AND t.status IN ('final', 'settled') ORDER BY t.id LIMIT $4",
            &[&project, &tenant, &after, &i(limit)],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get::<_, i64>(2) as u16, r.get::<_, i64>(3) as u16, r.get::<_, f64>(4) as f32)).collect())
    }
    fn log(&self, project: i64, after: u64, limit: usize) -> Result<Vec<(u64, u64, String)>, ApiError> {
        let rows = self.conn()?.query("SELECT seq, at_us, entry FROM log WHERE project = $1 AND seq > $2 ORDER BY seq LIMIT $3", &[&project, &i(after), &i(limit)])?;
        Ok(rows.iter().map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, i64>(1) as u64, r.get(2))).collect())
    }
    fn project_tenant(&self, project: i64) -> Result<Option<i64>, ApiError> {
        Ok(self.conn()?.query_opt("SELECT tenant FROM projects WHERE id = $1", &[&project])?.map(|r| r.get(0)))
    }
    fn pending_messages(&self) -> Result<u64, ApiError> {
        Ok(self.conn()?.query_one("SELECT COUNT(*) FROM outbox WHERE state = 'pending'", &[])?.get::<_, i64>(0) as u64)
    }
    fn project_name(&self, project: i64) -> Result<String, ApiError> {
        self.conn()?.query_opt("SELECT name FROM projects WHERE id = $1", &[&project])?.map(|r| r.get(0)).ok_or_else(|| ApiError::not_found("project"))
    }
    fn project_count(&self) -> Result<usize, ApiError> {
        Ok(self.conn()?.query_one("SELECT COUNT(*) FROM projects", &[])?.get::<_, i64>(0) as usize)
    }
    fn projects_named(&self, name: &str) -> Result<Vec<(i64, i64)>, ApiError> {
        Ok(self.conn()?.query("SELECT id, tenant FROM projects WHERE name = $1 ORDER BY id", &[&name])?.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
    fn project_for_replay(&self, tenant: i64, project: i64) -> Result<Option<(Settings, Vec<String>)>, ApiError> {
        let mut c = self.conn()?;
        let Some(r) = c.query_opt("SELECT settings, lease_us, seed FROM projects WHERE id = $1 AND tenant = $2", &[&project, &tenant])? else { return Ok(None) };
        let names: Vec<String> = c.query("SELECT external_id FROM annotators WHERE project = $1 ORDER BY core_id", &[&project])?.iter().map(|r| r.get(0)).collect();
        let s = Settings::parse(r.get(0), false, r.get::<_, i64>(1) as u64, r.get::<_, i64>(2) as u64)?;
        Ok(Some((s, names)))
    }
    fn unpublished_labels(&self, limit: usize) -> Result<Vec<LabelEvent>, ApiError> {
        let rows = self.conn()?.query("SELECT id, project, task, finals, body FROM label_events WHERE NOT published ORDER BY id LIMIT $1", &[&i(limit)])?;
        Ok(rows.iter().map(|r| LabelEvent { id: r.get(0), project: r.get(1), msg_id: super::label_msg_id(r.get(2), r.get::<_, i64>(3) as u32), body: r.get(4) }).collect())
    }
    fn principal(&self, hash: &str) -> Result<Option<Principal>, ApiError> {
        let mut c = self.conn()?;
        if let Some(r) = c.query_opt("SELECT tenant FROM api_keys WHERE hash = $1", &[&hash])? {
            return Ok(Some(Principal::Tenant(r.get(0))));
        }
        Ok(c.query_opt("SELECT a.id, p.tenant FROM annotators a JOIN projects p ON p.id = a.project WHERE a.token_hash = $1", &[&hash])?.map(|r| Principal::Annotator { id: r.get(0), tenant: r.get(1) }))
    }
}
