//! The writer: one thread per server that owns the decision cores (`state`) and the store's
//! write connection, whatever the store.
//!
//! Requests reach it through a bounded channel with a reply slot each. It takes the first
//! request waiting, then every request already queued behind it (up to [`MAX_BATCH`]), runs
//! them in one transaction where a refused request leaves no trace (SQLite: a savepoint each;
//! PostgreSQL: an operation refuses before it writes, and one that refused after writing fails
//! the batch), commits once (one fsync for the batch) and only then answers every caller:
//! durable group commit. A
//! full channel answers 503 with Retry-After. When something falls due (a lease's end, a timer)
//! the writer wakes for it on its own: lease expiry is an active timer, not a lazy clean-up.
//!
//! A failed write after a decision, or a transaction whose fate is unknown (the connection
//! dropped at commit), leaves memory ahead of the store: the writer drops its state and
//! rebuilds it from the store; until that succeeds (the database is back) every request gets
//! 503 with Retry-After, never a hang.

use super::{Reads, WriteTx};
use crate::auth::Keys;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::ops::{self, Failure, Op, Principal, Reply};
use crate::state::State;
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// The most requests one commit carries.
pub const MAX_BATCH: usize = 512;
/// Requests that may wait for the writer before new ones get 503.
pub const QUEUE: usize = 8192;

/// A write transaction that can undo one refused operation (or say it cannot: the batch fails).
pub trait OpTx: WriteTx {
    fn savepoint(&mut self) -> Result<(), ApiError>;
    fn release(&mut self) -> Result<(), ApiError>;
    fn rollback_to(&mut self) -> Result<(), ApiError>;
}

/// How a transaction ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Committed,
    /// Nothing happened, in the store or in memory (the transaction could not start).
    NotStarted,
    /// Memory may be ahead of the store: rebuild.
    Broken,
}

/// What the writer needs from a store.
pub trait Backend: Send + 'static {
    /// Rebuilds every project's state from the store.
    fn load(&mut self, keys: &Keys) -> Result<State, ApiError>;
    /// Runs one write transaction: first brings `state` up to what other nodes committed (a
    /// store shared by several nodes), then `f` (which returns true when the batch is
    /// poisoned), then commits.
    fn transact(&mut self, state: &mut State, keys: &Keys, f: &mut dyn FnMut(&mut State, &mut dyn OpTx) -> bool) -> Outcome;
    /// Whether other nodes committed since this one last looked (asked when idle).
    fn stale(&mut self) -> bool {
        false
    }
    /// The writer drained its queue and stops.
    fn closing(&mut self) {}
}

type Job = (Op, Option<oneshot::Sender<Result<Reply, ApiError>>>);

/// The writer's queue and thread, and the store's reads: what the API holds.
pub struct Store {
    queue: Mutex<Option<SyncSender<Job>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    reads: Arc<dyn Reads>,
}

impl std::ops::Deref for Store {
    type Target = dyn Reads;
    fn deref(&self) -> &Self::Target {
        &*self.reads
    }
}

impl Store {
    /// Rebuilds the state from `backend` and starts the writer thread.
    pub fn start<B: Backend>(mut backend: B, reads: Arc<dyn Reads>, clock: Arc<dyn Clock>, keys: Arc<Keys>, metrics: Arc<Metrics>) -> anyhow::Result<Arc<Store>> {
        let started = Instant::now();
        let state = backend.load(&keys).map_err(|e| anyhow::anyhow!("cannot rebuild state from the store: {}", e.body.message))?;
        tracing::info!(projects = state.projects.len(), ms = started.elapsed().as_millis() as u64, "state rebuilt from the store");
        let (tx, rx) = mpsc::sync_channel::<Job>(QUEUE);
        let handle = std::thread::Builder::new().name("tessera-writer".into()).spawn(move || writer(backend, state, rx, clock, keys, metrics))?;
        Ok(Arc::new(Store { queue: Mutex::new(Some(tx)), writer: Mutex::new(Some(handle)), reads }))
    }

    /// Queues a write; the answer comes once its batch is durable.
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
}

fn writer<B: Backend>(mut backend: B, state: State, rx: mpsc::Receiver<Job>, clock: Arc<dyn Clock>, keys: Arc<Keys>, metrics: Arc<Metrics>) {
    let mut state = Some(state);
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut metrics_due = Instant::now();
    let mut gauges_stale = true;
    let mut polled = Instant::now();
    let mut reload_tried: Option<Instant> = None;
    loop {
        if let Some(state) = state.as_ref().filter(|_| gauges_stale && metrics_due.elapsed() >= Duration::from_millis(200)) {
            // Gauges at most five times a second, and within a second of any change (the
            // writer wakes at least once a second).
            metrics_due = Instant::now();
            gauges_stale = false;
            let queues = state.projects.values().map(|p| (p.id, p.core.queue_len(), p.core.live_tasks(), p.leases.len())).collect();
            let streams = state.projects.values().flat_map(|p| p.settings.setup.streams.iter().enumerate().map(move |(i, s)| (p.id, s.name.clone(), p.core.queue_len_of(i as u16)))).collect();
            metrics.set_queues(queues, streams);
        }
        let now = clock.now_us();
        let wait = match state.as_ref().and_then(|s| s.next_due()) {
            Some(at) if at <= now => Duration::ZERO,
            // A clock that runs faster than the wall clock (a rehearsal's) is waited for at its rate.
            Some(at) => Duration::from_micros((((at - now) as f64 / clock.rate()) as u64).min(1_000_000)),
            None => Duration::from_secs(1),
        };
        let wait = if gauges_stale || state.is_none() { wait.min(Duration::from_millis(200)) } else { wait.min(Duration::from_millis(500)) };
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
        if state.is_none() {
            // Rebuild (at most every half second while the store is down); until then, 503.
            if reload_tried.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
                reload_tried = Some(Instant::now());
                match backend.load(&keys) {
                    Ok(s) => {
                        tracing::info!(projects = s.projects.len(), "state rebuilt from the store");
                        state = Some(s);
                        gauges_stale = true;
                    }
                    Err(e) => tracing::warn!(error = %e.body.message, "cannot rebuild state yet; answering 503"),
                }
            }
            if state.is_none() {
                for (_, reply) in batch.drain(..) {
                    if let Some(r) = reply {
                        let _ = r.send(Err(ApiError::unavailable("the store is unavailable; retry")));
                    }
                }
                continue;
            }
        }
        let st = state.as_mut().expect("rebuilt above");
        let now = clock.now_us();
        // What fell due wakes the writer (`run_batch` puts it first: an expiry at or before
        // `now` happens before the requests that arrive at `now`).
        if batch.is_empty() && st.next_due().is_some_and(|at| at <= now) {
            batch.push((Op::Tick, None));
        }
        if batch.is_empty() {
            // Idle: a store other nodes write to is looked at twice a second, so that their
            // leases expire here too if they die.
            if polled.elapsed() >= Duration::from_millis(500) {
                polled = Instant::now();
                if backend.stale() {
                    batch.push((Op::Tick, None));
                }
            }
            if batch.is_empty() {
                continue;
            }
        }
        let started = Instant::now();
        let n = batch.len();
        let mut out: Vec<Answered> = Vec::with_capacity(n);
        let mut added = Vec::new();
        let outcome = backend.transact(st, &keys, &mut |state, tx| run_batch(state, tx, &mut batch, now, &mut out, &mut added));
        // Jobs the transaction never reached (it could not start).
        for (_, reply) in batch.drain(..) {
            out.push((Err(ApiError::unavailable("the store is unavailable; retry")), reply));
        }
        let failed = match outcome {
            Outcome::Committed => {
                for (h, who) in added {
                    keys.add(h, who);
                }
                false
            }
            Outcome::NotStarted => true,
            Outcome::Broken => {
                tracing::error!("a write failed after its decision, or its commit's fate is unknown: rebuilding state from the store");
                metrics.poisoned.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                state = None;
                reload_tried = None;
                true
            }
        };
        metrics.observe_batch(n, started.elapsed());
        gauges_stale = true;
        tracing::debug!(ops = n, ms = started.elapsed().as_secs_f64() * 1e3, "batch committed");
        for (result, reply) in out {
            if let Some(r) = reply {
                let _ = r.send(if failed { Err(ApiError::unavailable("the store failed; retry")) } else { result });
            }
        }
    }
    // Drained: the channel is closed and every queued write was answered.
    backend.closing();
}

type Answered = (Result<Reply, ApiError>, Option<oneshot::Sender<Result<Reply, ApiError>>>);

/// Runs a batch inside the backend's transaction; returns whether it was poisoned.
fn run_batch(state: &mut State, tx: &mut dyn OpTx, batch: &mut Vec<Job>, now: u64, out: &mut Vec<Answered>, keys: &mut Vec<(String, Principal)>) -> bool {
    // Never a time before what the cores already saw (another node's clock may run ahead).
    let now = now.max(state.floor_us);
    // What fell due goes first, here rather than when the batch was taken: catching up with
    // other nodes may have brought leases that ran out.
    if state.next_due().is_some_and(|at| at <= now) && !matches!(batch.first(), Some((Op::Tick, _))) {
        batch.insert(0, (Op::Tick, None));
    }
    let mut poisoned = false;
    for (op, reply) in batch.drain(..) {
        if poisoned {
            out.push((Err(ApiError::unavailable("the store failed; retry")), reply));
            continue;
        }
        if let Err(e) = tx.savepoint() {
            poisoned = true;
            out.push((Err(e), reply));
            continue;
        }
        let mut added = Vec::new();
        match ops::execute(state, tx, op, now, &mut added) {
            Ok(r) => {
                if let Err(e) = tx.release() {
                    poisoned = true;
                    out.push((Err(e), reply));
                    continue;
                }
                keys.extend(added);
                let r = match r {
                    Reply::Refused(e) => Err(e),
                    r => Ok(r),
                };
                out.push((r, reply));
            }
            Err(Failure::Refused(e)) => {
                if tx.rollback_to().is_err() {
                    poisoned = true;
                }
                out.push((Err(e), reply));
            }
            Err(Failure::Poisoned(e)) => {
                poisoned = true;
                out.push((Err(e), reply));
            }
        }
    }
    if poisoned {
        keys.clear();
    }
    poisoned
}
