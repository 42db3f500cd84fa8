//! The durable store behind the server: SQLite for one process ([`sqlite`], the embedded
//! default) and PostgreSQL for any number of nodes ([`postgres`]), behind the same traits and
//! the same writer ([`writer`]); [`replay`] builds memory from stored rows for both.
//!
//! - [`WriteTx`]: one write transaction as the decision logic (`ops`) sees it: a few lookups it
//!   needs before deciding, and the [`Row`] changes its decisions produce. The store turns rows
//!   into statements; it decides nothing, except that a final label of a task with a callback
//!   URL puts a webhook message in the outbox in the same transaction, and, when the server
//!   publishes labels to a queue, a label event too.
//! - [`Reads`]: what the HTTP API reads, never touching the decision core.
//!
//! Contract: a write is durable when the call that carried it returns Ok; both stores get there
//! through the writer's group commit.

pub mod postgres;
pub mod replay;
pub mod sqlite;
pub mod writer;

pub use writer::Store;

use crate::api;
use crate::error::ApiError;

/// A change the decision logic makes, for the store to persist.
#[derive(Clone, Debug)]
pub enum Row {
    /// The log entry `seq` of a project, fed to its core at `at_us`.
    Log { project: i64, seq: u64, at_us: u64, entry: String },
    Tenant { id: i64, name: String, at_us: u64 },
    ApiKey { hash: String, tenant: i64, at_us: u64 },
    Project { id: i64, tenant: i64, name: String, settings: String, lease_us: u64, seed: u64, webhook_secret: String, at_us: u64 },
    Annotator { id: i64, project: i64, core_id: u32, external_id: String, token_hash: String, at_us: u64 },
    Task { id: i64, project: i64, stream: u16, unique_id: Option<String>, payload: String, metadata: String, priority: Option<u32>, deadline_us: Option<u64>, callback_url: Option<String>, gold_answer: Option<u16>, prelabel: Option<String>, status: &'static str, at_us: u64 },
    TaskStatus { task: i64, status: &'static str, stage: Option<String>, at_us: u64 },
    /// A final label: status final, `finals` + 1; with a callback URL, an outbox message
    /// (`label.final` the first time, `label.updated` after).
    Final { task: i64, label: u16, confidence: f32, votes: Vec<f32>, posteriors: Vec<f32>, at_us: u64 },
    Lease { project: i64, assignment: u64, annotator: i64, task: i64, kind: &'static str, stage: u16, opened_us: u64, expires_us: u64 },
    LeaseExtended { project: i64, assignment: u64, expires_us: u64 },
    LeaseEnded { project: i64, assignment: u64, how: &'static str, at_us: u64 },
    Answer { project: i64, assignment: u64, task: i64, annotator: i64, kind: &'static str, label: Option<u16>, accept: Option<bool>, fate: &'static str, late: bool, at_us: u64 },
    /// What a submission was answered (a retry gets the same answer).
    Submission { project: i64, assignment: u64, answer: String, response: String },
    Trust { annotator: i64, trust: f64 },
    Banned { annotator: i64, until_us: Option<u64> },
    Paid { annotator: i64, usd: f64 },
    /// A stored answer to an `Idempotency-Key` request.
    Idempotent { tenant: i64, key: String, route: String, body_hash: String, status: u16, response: String, at_us: u64 },
    /// Queue a webhook delivery of the task's current final label again.
    Redeliver { task: i64, at_us: u64 },
    /// A delivery attempt and the message's next state.
    Attempt { message: i64, at_us: u64, status: Option<u16>, error: Option<String>, duration_ms: u64, next_us: Option<u64>, delivered: bool },
    /// Claim messages until `until_us` (a crash means redelivery after it).
    Claim { messages: Vec<i64>, until_us: u64 },
    /// Final labels the queue acknowledged.
    Published { ids: Vec<i64> },
}

/// A final label waiting to be published to the queue.
#[derive(Clone, Debug)]
pub struct LabelEvent {
    pub id: i64,
    pub project: i64,
    /// `tessera-label-{task}-{n}`: the task's n-th final label.
    pub msg_id: String,
    pub body: String,
}

/// The message id of a task's n-th final label.
pub fn label_msg_id(task: i64, finals: u32) -> String {
    format!("tessera-label-{task}-{finals}")
}

/// A lease as stored (for late answers after the server's memory of it ended).
#[derive(Clone, Debug)]
pub struct LeaseRow {
    pub annotator: i64,
    pub task: i64,
}

/// A webhook message due for delivery.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: i64,
    pub url: String,
    pub event_type: String,
    pub body: String,
    pub secret: String,
    pub attempts: u32,
}

/// One write transaction, as the decision logic sees it.
pub trait WriteTx {
    /// The next id of `table` ("tenants", "projects", "annotators", "tasks").
    fn next_id(&mut self, table: &'static str) -> Result<i64, ApiError>;
    /// The task of `project` with `unique_id`, if any.
    fn task_by_unique(&mut self, project: i64, unique_id: &str) -> Result<Option<i64>, ApiError>;
    /// A stored idempotent answer: (body hash, status, response).
    fn idempotent(&mut self, tenant: i64, key: &str, route: &str) -> Result<Option<(String, u16, String)>, ApiError>;
    /// What a submission on this assignment was answered: (answer, response).
    fn submission(&mut self, project: i64, assignment: u64) -> Result<Option<(String, String)>, ApiError>;
    fn lease(&mut self, project: i64, assignment: u64) -> Result<Option<LeaseRow>, ApiError>;
    fn tenant_exists(&mut self, tenant: i64) -> Result<bool, ApiError>;
    /// The project a task belongs to.
    fn task_project(&mut self, task: i64) -> Result<Option<i64>, ApiError>;
    /// The payload of a task, as stored.
    fn payload(&mut self, task: i64) -> Result<String, ApiError>;
    /// Messages due at `now_us`, oldest first.
    fn due_messages(&mut self, now_us: u64, limit: usize) -> Result<Vec<Message>, ApiError>;
    /// A project's external annotator id → store id.
    fn annotator_by_external(&mut self, project: i64, external: &str) -> Result<Option<i64>, ApiError>;
    fn put(&mut self, row: Row) -> Result<(), ApiError>;
}

/// Listing filter for tasks.
#[derive(Clone, Debug, Default)]
pub struct TaskQuery {
    pub updated_after_us: Option<u64>,
    /// (updated_us, id) of the last task of the previous page.
    pub after: Option<(u64, i64)>,
    pub limit: usize,
    pub status: Option<String>,
}

/// What the API reads. `tenant` scopes every read: another tenant's object is "not found".
pub trait Reads: Send + Sync {
    fn task(&self, tenant: i64, task: i64) -> Result<Option<api::Task>, ApiError>;
    fn tasks(&self, tenant: i64, project: i64, q: &TaskQuery) -> Result<Vec<api::Task>, ApiError>;
    fn answers(&self, tenant: i64, task: i64) -> Result<Option<Vec<api::AnswerOut>>, ApiError>;
    fn deliveries(&self, tenant: i64, task: i64) -> Result<Option<Vec<api::DeliveryOut>>, ApiError>;
    /// The project's final labels, in task order, `after` a task id: (task, unique id, stream, label, confidence).
    fn finals(&self, tenant: i64, project: i64, after: i64, limit: usize) -> Result<Vec<(i64, Option<String>, u16, u16, f32)>, ApiError>;
    /// A project's log entries after `seq`: (seq, at_us, entry).
    fn log(&self, project: i64, after: u64, limit: usize) -> Result<Vec<(u64, u64, String)>, ApiError>;
    /// Owner tenant of a project.
    fn project_tenant(&self, project: i64) -> Result<Option<i64>, ApiError>;
    fn pending_messages(&self) -> Result<u64, ApiError>;
    fn project_name(&self, project: i64) -> Result<String, ApiError>;
    fn project_count(&self) -> Result<usize, ApiError>;
    /// The projects called `name`, any tenant's: (id, tenant), by id.
    fn projects_named(&self, name: &str) -> Result<Vec<(i64, i64)>, ApiError>;
    /// A project's settings and its annotators' external ids by core id (the trace's names).
    fn project_for_replay(&self, tenant: i64, project: i64) -> Result<Option<(crate::project::Settings, Vec<String>)>, ApiError>;
    /// Final labels not yet published to the queue, oldest first.
    fn unpublished_labels(&self, limit: usize) -> Result<Vec<LabelEvent>, ApiError>;
    /// Who holds the key or token with this hash (an API key or a person created on another node).
    fn principal(&self, hash: &str) -> Result<Option<crate::ops::Principal>, ApiError>;
}
