//! The JSON bodies of the HTTP API (requests and answers), with their OpenAPI schemas. Every
//! request type refuses unknown fields, so a misspelt field is an error that names it.

use crate::project::Registration;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// A name for people (1 to 128 characters).
    pub name: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantCreated {
    pub tenant_id: i64,
    /// The tenant's first API key: shown once, stored hashed.
    pub api_key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct KeyCreated {
    /// Shown once, stored hashed.
    pub api_key: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    pub name: String,
    /// Settings in the scenario schema (TOML): `[[streams]]` with task types, classes and
    /// workflow `stages`, `[[models]]`, `[quality]`, `[routing]`.
    pub settings: String,
    /// The settings are a whole scenario file: drop its simulation-only sections instead of
    /// refusing them.
    #[serde(default)]
    pub from_scenario: bool,
    /// [s] how long a lease lasts without a heartbeat (default 600).
    #[serde(default)]
    pub lease_seconds: Option<f64>,
    /// Seed of the core's random draws (golden items, tie breaks); default 1.
    #[serde(default)]
    pub seed: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: i64,
    pub name: String,
    /// Streams, in order, with their task type and class count.
    pub streams: Vec<StreamOut>,
    /// Groups people may join (named by stages or the review pool).
    pub groups: Vec<String>,
    pub routing: String,
    pub lease_seconds: f64,
    /// The secret webhooks are signed with (`whsec_…`, Standard Webhooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StreamOut {
    pub name: String,
    pub task_type: String,
    pub classes: u16,
    pub stages: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AnnotatorCreated {
    pub annotator_id: i64,
    /// The person's own token (lease and submit their own work only): shown once, stored hashed.
    pub token: String,
}

pub type RegisterAnnotator = Registration;

/// A task to create.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTask {
    /// The stream (name) it belongs to; default: the project's only stream.
    #[serde(default)]
    pub stream: Option<String>,
    /// What the annotation tool shows (opaque JSON, at most 1 MiB).
    #[serde(default)]
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Opaque JSON the server keeps and returns.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Replaces the stream's priority.
    #[serde(default)]
    pub priority: Option<u32>,
    /// [µs since the Unix epoch] replaces the stream's deadline.
    #[serde(default)]
    pub deadline_us: Option<u64>,
    /// The caller's id for the task: a second task with it gets 409 and the first one's id.
    #[serde(default)]
    pub unique_id: Option<String>,
    /// Where to POST the final label (and later changes to it).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Annotator ids this task must never go to.
    #[serde(default)]
    pub unavailable_for: Vec<i64>,
    /// Annotator ids this task may go to, and no one else (empty: anyone eligible).
    #[serde(default)]
    pub reserved_for: Vec<i64>,
    /// A golden task: its known answer (class index). Golden tasks are handed out at the
    /// quality settings' `gold.rate` to measure people, never aggregated.
    #[serde(default)]
    pub gold_answer: Option<u16>,
    /// The number of parts (tasks created later with `part_of` = this task) that must be final
    /// before this task's workflow starts.
    #[serde(default)]
    pub parts: u32,
    /// The id of a task waiting for its parts, of which this task is one.
    #[serde(default)]
    pub part_of: Option<i64>,
    /// A model's pre-label (class index) and confidence, used by a `model` stage.
    #[serde(default)]
    pub prelabel: Option<PreLabel>,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PreLabel {
    pub label: u16,
    /// In [0, 1].
    pub confidence: f32,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkTasks {
    /// At most 10,000 tasks.
    pub tasks: Vec<NewTask>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TaskCreated {
    pub task_id: i64,
    /// "waiting", "waiting_for_parts", "gold", or the state it reached at once.
    pub status: String,
}

/// One item of a bulk answer: created, or why not.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BulkItem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
    /// 201 created, 409 duplicate `unique_id` (task_id is the existing task), 422 refused.
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct BulkCreated {
    pub items: Vec<BulkItem>,
}

/// Work handed to a person.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Lease {
    pub assignment_id: u64,
    /// How many leases the task's work has had before this one (a fencing number for clients).
    pub lease_epoch: u64,
    /// [µs since the Unix epoch] the lease ends unless a heartbeat extends it.
    pub expires_at_us: u64,
    pub task_id: i64,
    /// "labelling", "review" or "gold".
    pub kind: String,
    pub stream: String,
    pub stage: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// A model's pre-label, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prelabel: Option<u16>,
    /// For a review: the label proposed as final.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed: Option<u16>,
    /// For a preference pair (labelling or gold): show it swapped, label 1's answer on the left
    /// (first) and label 0's on the right. The order is a fixed hash of the assignment id,
    /// balanced and independent of the item; answers stay in the task's labels. Position-bias
    /// rules read which side was picked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swapped: Option<bool>,
}

/// The answer of `next`: work, or when to ask again.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct NextAnswer {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
    /// [s] when there is no work for this person: ask again after this long.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submit {
    /// A class index (labelling and golden work).
    #[serde(default)]
    pub label: Option<u16>,
    /// A review verdict: accept the proposed label or send the task back.
    #[serde(default)]
    pub accept: Option<bool>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Submitted {
    pub assignment_id: u64,
    /// counted, extra, discarded (labels), gold_right, gold_wrong, verdict, late_verdict, or
    /// kept (answered after the server forgot the lease: stored, not counted).
    pub outcome: String,
    /// The lease had expired or been given back before the answer came.
    pub late: bool,
    /// The task's state after this answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_status: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// true: never offer this task to this person again.
    #[serde(default)]
    pub skip: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Released {
    pub assignment_id: u64,
    /// "returned" or "skipped".
    pub outcome: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct HeartbeatAnswer {
    pub assignment_id: u64,
    pub expires_at_us: u64,
}

/// A task as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Task {
    pub id: i64,
    pub project_id: i64,
    pub stream: String,
    /// waiting_for_parts, waiting (in a stage), final, settled, left_unserved, gold.
    pub status: String,
    /// The workflow stage it is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unique_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<u16>,
    /// The core's confidence in the final label under the stream's aggregation: the share of
    /// votes for majority vote, the posterior of that label for weighted consensus.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
    /// Share of counted labels per class behind the final label (index = class).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub votes: Option<Vec<f32>>,
    /// The one-coin posterior over the classes (index = class) given those labels, each weighed
    /// by its labeller's trust when the label became final (the weighted consensus's model).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posteriors: Option<Vec<f32>>,
    /// Times a final label was given (more than 1: a review or a ban re-opened it).
    pub finals: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_us: Option<u64>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub created_us: u64,
    pub updated_us: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct TaskPage {
    pub tasks: Vec<Task>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// One stored answer.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AnswerOut {
    pub assignment_id: u64,
    pub annotator_id: i64,
    /// labelling, review or gold.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accept: Option<bool>,
    /// counted, extra, discarded, right, wrong, applied, kept.
    pub fate: String,
    pub late: bool,
    pub at_us: u64,
}

/// One delivery attempt of a webhook.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct DeliveryOut {
    pub message_id: String,
    /// label.final or label.updated.
    pub event_type: String,
    /// pending, delivered, exhausted.
    pub state: String,
    pub attempts: Vec<AttemptOut>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct AttemptOut {
    pub at_us: u64,
    /// The receiver's HTTP status (absent when it could not be reached).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema, PartialEq)]
pub struct Health {
    pub status: String,
    pub projects: usize,
}
