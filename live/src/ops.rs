//! The live adapter's decisions: each write the API asks for becomes log entries fed to the
//! project's core, and the core's effects become rows ([`Row`]) in the same transaction and the
//! answer the caller gets. Nothing here decides what the core decides (routing, quality,
//! workflow): it translates.
//!
//! Order inside an operation: everything that can refuse the request is checked before the
//! core is touched; after it, a store failure poisons the batch (the writer rolls back and
//! rebuilds the cores from the store, so memory never runs ahead of what is durable).

use crate::api::{self, BulkCreated, BulkItem, Lease, NextAnswer, NewTask, Released, Submitted, TaskCreated};
use crate::auth;
use crate::error::ApiError;
use crate::log::Entry;
use crate::project::{Registration, Settings};
use crate::state::{DueWhat, ProjectState, State};
use crate::store::{Row, WriteTx};
use std::sync::Arc;
use tessera_engine::core::{Answer, Closed, Command, Effect, LabelFate, Rejection, TaskId, Work};

/// Who is asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Principal {
    Admin,
    Tenant(i64),
    /// A person: their store id and their tenant.
    Annotator { id: i64, tenant: i64 },
}


/// A write the API asks for.
#[derive(Debug)]
pub enum Op {
    CreateTenant { name: String },
    CreateKey { tenant: i64 },
    CreateProject { tenant: i64, req: api::CreateProject },
    Register { tenant: i64, project: i64, reg: Registration },
    /// `offset`: where these tasks start in the request's list (a bulk request comes in chunks;
    /// errors name `tasks[offset + i]`).
    CreateTasks { tenant: i64, project: i64, tasks: Vec<NewTask>, bulk: bool, offset: usize, idempotency: Option<(String, String)> },
    Next { who: Principal, annotator: i64 },
    Submit { who: Principal, annotator: i64, assignment: u64, submit: api::Submit },
    Release { who: Principal, annotator: i64, assignment: u64, skip: bool },
    Heartbeat { who: Principal, annotator: i64, assignment: u64 },
    Redeliver { tenant: i64, task: i64 },
    /// Claim due webhook messages for delivery.
    Claim { limit: usize, visibility_us: u64 },
    /// Record a delivery attempt.
    Attempt(Row),
    /// Mark final labels published to the queue.
    Published { ids: Vec<i64> },
    /// Expire due leases and fire due timers (the writer runs it when something falls due;
    /// tests send it after moving a manual clock).
    Tick,
}

/// What a write answered.
#[derive(Debug, Clone)]
pub enum Reply {
    Tenant(api::TenantCreated),
    Key(api::KeyCreated),
    Project(api::Project),
    Annotator(api::AnnotatorCreated),
    Task(TaskCreated),
    Bulk(BulkCreated),
    /// An idempotent replay: the stored status and body.
    Stored(u16, String),
    Next(NextAnswer),
    Submitted(Submitted),
    Released(Released),
    Heartbeat(api::HeartbeatAnswer),
    Claimed(Vec<crate::store::Message>),
    Done,
    /// Refused after the command was logged (the core refused it; the log keeps it).
    Refused(ApiError),
}

/// A store failure after the core changed: the batch must be rolled back and the cores rebuilt.
#[derive(Debug)]
pub struct Poisoned(pub ApiError);

/// What an operation's failure means for the batch.
pub enum Failure {
    /// The request is refused; nothing changed.
    Refused(ApiError),
    Poisoned(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Refused(e)
    }
}

/// Makes a store error after a core change poison the batch.
fn poison<T>(r: Result<T, ApiError>) -> Result<T, Failure> {
    r.map_err(Failure::Poisoned)
}

const MAX_BULK: usize = 10_000;
/// [s] when a person with no work should ask again.
const RETRY_AFTER_S: f64 = 2.0;
const MAX_PAYLOAD: usize = 1 << 20;

/// Runs one operation at `now_us`. `new_keys` collects the token hashes it created (the auth
/// cache learns them after the commit).
pub fn execute(state: &mut State, tx: &mut dyn WriteTx, op: Op, now_us: u64, new_keys: &mut Vec<(String, Principal)>) -> Result<Reply, Failure> {
    match op {
        Op::CreateTenant { name } => {
            if name.trim().is_empty() || name.chars().count() > 128 {
                return Err(ApiError::unprocessable("name", "expected 1 to 128 characters").into());
            }
            let id = tx.next_id("tenants")?;
            let key = auth::new_token("tsk");
            tx.put(Row::Tenant { id, name, at_us: now_us })?;
            tx.put(Row::ApiKey { hash: auth::hash(&key), tenant: id, at_us: now_us })?;
            new_keys.push((auth::hash(&key), Principal::Tenant(id)));
            Ok(Reply::Tenant(api::TenantCreated { tenant_id: id, api_key: key }))
        }
        Op::CreateKey { tenant } => {
            if !tx.tenant_exists(tenant)? {
                return Err(ApiError::not_found("tenant").into());
            }
            let key = auth::new_token("tsk");
            tx.put(Row::ApiKey { hash: auth::hash(&key), tenant, at_us: now_us })?;
            new_keys.push((auth::hash(&key), Principal::Tenant(tenant)));
            Ok(Reply::Key(api::KeyCreated { api_key: key }))
        }
        Op::CreateProject { tenant, req } => create_project(state, tx, tenant, req, now_us),
        Op::Register { tenant, project, reg } => register(state, tx, tenant, project, reg, now_us, new_keys),
        Op::CreateTasks { tenant, project, tasks, bulk, offset, idempotency } => create_tasks(state, tx, tenant, project, tasks, (bulk, offset), idempotency, now_us),
        Op::Next { who, annotator } => next(state, tx, who, annotator, now_us),
        Op::Submit { who, annotator, assignment, submit } => submit_answer(state, tx, who, annotator, assignment, submit, now_us),
        Op::Release { who, annotator, assignment, skip } => release(state, tx, who, annotator, assignment, skip, now_us),
        Op::Heartbeat { who, annotator, assignment } => heartbeat(state, tx, who, annotator, assignment, now_us),
        Op::Redeliver { tenant, task } => {
            let owned = tx.task_project(task)?.and_then(|p| state.projects.get(&p)).is_some_and(|p| p.tenant == tenant);
            if !owned {
                return Err(ApiError::not_found("task").into());
            }
            tx.put(Row::Redeliver { task, at_us: now_us })?;
            Ok(Reply::Done)
        }
        Op::Claim { limit, visibility_us } => {
            let due = tx.due_messages(now_us, limit)?;
            if !due.is_empty() {
                tx.put(Row::Claim { messages: due.iter().map(|m| m.id).collect(), until_us: now_us + visibility_us })?;
            }
            Ok(Reply::Claimed(due))
        }
        Op::Attempt(row) => {
            tx.put(row)?;
            Ok(Reply::Done)
        }
        Op::Published { ids } => {
            tx.put(Row::Published { ids })?;
            Ok(Reply::Done)
        }
        Op::Tick => tick(state, tx, now_us),
    }
}

fn project_of<'s>(state: &'s mut State, tenant: i64, project: i64) -> Result<&'s mut ProjectState, ApiError> {
    match state.projects.get_mut(&project) {
        Some(p) if p.tenant == tenant => Ok(p),
        _ => Err(ApiError::not_found("project")),
    }
}

/// A project as the API shows it.
pub fn project_view(id: i64, name: String, s: &Settings, secret: Option<String>) -> api::Project {
    api::Project {
        id,
        name,
        streams: s
            .setup
            .streams
            .iter()
            .map(|st| api::StreamOut { name: st.name.clone(), task_type: st.task_type.clone(), classes: st.classes, stages: st.workflow.stages.iter().map(|x| x.name.clone()).collect() })
            .collect(),
        groups: s.groups.clone(),
        routing: s.scenario.routing.policy.clone(),
        lease_seconds: s.lease_us as f64 / 1e6,
        webhook_secret: secret,
    }
}

fn create_project(state: &mut State, tx: &mut dyn WriteTx, tenant: i64, req: api::CreateProject, now_us: u64) -> Result<Reply, Failure> {
    if req.name.trim().is_empty() || req.name.chars().count() > 128 {
        return Err(ApiError::unprocessable("name", "expected 1 to 128 characters").into());
    }
    let lease_s = req.lease_seconds.unwrap_or(600.0);
    if !(lease_s >= 1.0 && lease_s <= 7.0 * 86_400.0) {
        return Err(ApiError::unprocessable("lease_seconds", "expected between 1 s and 7 days").into());
    }
    let settings = Settings::parse(&req.settings, req.from_scenario, (lease_s * 1e6) as u64, req.seed.unwrap_or(1))?;
    let id = tx.next_id("projects")?;
    let secret = auth::new_token("whsec");
    tx.put(Row::Project { id, tenant, name: req.name.clone(), settings: settings.text.clone(), lease_us: settings.lease_us, seed: settings.seed, webhook_secret: secret.clone(), at_us: now_us })?;
    let p = ProjectState::new(id, tenant, req.name, Arc::new(settings));
    let out = project_view(id, p.name.clone(), &p.settings, Some(secret));
    state.projects.insert(id, p);
    Ok(Reply::Project(out))
}

/// Logs an entry, feeds it to the core and persists what followed; returns the effects.
fn feed(state: &mut State, tx: &mut dyn WriteTx, project: i64, entry: Entry, now_us: u64) -> Result<Vec<Effect>, Failure> {
    let p = state.projects.get_mut(&project).ok_or_else(|| ApiError::not_found("project"))?;
    let seq = p.next_seq;
    let text = serde_json::to_string(&entry).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut due = Vec::new();
    let effects = p.apply(&entry, seq, now_us, &mut due).map_err(|e| Failure::Poisoned(ApiError::internal(e)))?;
    poison(tx.put(Row::Log { project, seq, at_us: now_us, entry: text }))?;
    state.floor_us = state.floor_us.max(now_us);
    state.push_due(project, &mut due);
    persist(state, tx, project, &effects, now_us)?;
    // A model stage reached by a task that brought its pre-label: the pre-label goes in now.
    let pre: Vec<Entry> = {
        let p = state.projects.get_mut(&project).expect("project checked above");
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::PreAnnotate { task, .. } => p.prelabels.remove(&task.0).map(|(label, confidence)| Entry::Core { command: Command::PreLabelled { task: *task, label, confidence } }),
                _ => None,
            })
            .collect()
    };
    let mut all = effects;
    for e in pre {
        let more = feed(state, tx, project, e, now_us)?;
        all.extend(more);
    }
    Ok(all)
}

fn fate_name(f: LabelFate) -> &'static str {
    match f {
        LabelFate::Counted => "counted",
        LabelFate::Extra => "extra",
        LabelFate::Discarded => "discarded",
    }
}

/// The rows the effects of one entry become.
fn persist(state: &mut State, tx: &mut dyn WriteTx, project: i64, effects: &[Effect], now_us: u64) -> Result<(), Failure> {
    let p = state.projects.get(&project).expect("project checked by the caller");
    let row_of = |a: u32| p.annotator_rows.get(a as usize).copied().unwrap_or(-1);
    let stage_name = |sid: u16| p.settings.setup.stages.get(sid as usize).map(|r| r.name.clone());
    for e in effects {
        let row = match e {
            Effect::Assign { assignment, annotator, work, stage, .. } => {
                let lease = &p.leases[&assignment.0];
                let kind = match work {
                    Work::Label { .. } => "labelling",
                    Work::Review { .. } => "review",
                    Work::Gold { .. } => "gold",
                };
                Row::Lease { project, assignment: assignment.0, annotator: row_of(*annotator), task: lease.task, kind, stage: *stage, opened_us: now_us, expires_us: lease.expires_us }
            }
            Effect::LeaseClosed { assignment, how, .. } => {
                let how = match how {
                    Closed::Answered => "answered",
                    Closed::Expired => "expired",
                    Closed::Returned => "returned",
                    Closed::Skipped => "skipped",
                };
                Row::LeaseEnded { project, assignment: assignment.0, how, at_us: now_us }
            }
            Effect::LabelStored { task, assignment, annotator, label, fate, late } => {
                Row::Answer { project, assignment: assignment.0, task: task.0 as i64, annotator: row_of(*annotator), kind: "labelling", label: Some(*label), accept: None, fate: fate_name(*fate), late: *late, at_us: now_us }
            }
            Effect::GoldChecked { assignment, annotator, label, right, .. } => {
                let task = tx.lease(project, assignment.0).map_err(Failure::Poisoned)?.map_or(0, |l| l.task);
                Row::Answer { project, assignment: assignment.0, task, annotator: row_of(*annotator), kind: "gold", label: Some(*label), accept: None, fate: if *right { "right" } else { "wrong" }, late: false, at_us: now_us }
            }
            Effect::Reviewed { task, assignment, annotator, accepted, applied } => Row::Answer {
                project,
                assignment: assignment.0,
                task: task.0 as i64,
                annotator: row_of(*annotator),
                kind: "review",
                label: None,
                accept: Some(*accepted),
                fate: if *applied { "applied" } else { "extra" },
                late: false,
                at_us: now_us,
            },
            Effect::Final { task, label, confidence, labels } => {
                let stream = p.streams.get(&task.0).copied().unwrap_or(0);
                let classes = p.settings.setup.streams.get(stream as usize).map_or(2, |s| s.classes) as usize;
                let mut votes = vec![0f32; classes.max(*label as usize + 1)];
                for (_, l) in labels {
                    if let Some(v) = votes.get_mut(*l as usize) {
                        *v += 1.0;
                    }
                }
                let n = labels.len().max(1) as f32;
                votes.iter_mut().for_each(|v| *v /= n);
                let posteriors = p.core.posteriors(labels, stream);
                Row::Final { task: task.0 as i64, label: *label, confidence: *confidence, votes, posteriors, at_us: now_us }
            }
            Effect::StageEntered { task, stage } => Row::TaskStatus { task: task.0 as i64, status: "waiting", stage: stage_name(*stage), at_us: now_us },
            Effect::Settled { task } => Row::TaskStatus { task: task.0 as i64, status: "settled", stage: None, at_us: now_us },
            Effect::LeftUnserved { task, .. } => Row::TaskStatus { task: task.0 as i64, status: "left_unserved", stage: None, at_us: now_us },
            Effect::Reopened { task, .. } => Row::TaskStatus { task: task.0 as i64, status: "reopened", stage: None, at_us: now_us },
            Effect::TrustChanged { annotator, trust } => Row::Trust { annotator: row_of(*annotator), trust: *trust },
            Effect::Banned { annotator, until } => Row::Banned { annotator: row_of(*annotator), until_us: until.map(|u| u.0) },
            Effect::Unbanned { annotator } => Row::Banned { annotator: row_of(*annotator), until_us: Some(0) },
            Effect::Paid { annotator, usd, .. } if *usd > 0.0 => Row::Paid { annotator: row_of(*annotator), usd: *usd },
            _ => continue,
        };
        poison(tx.put(row))?;
    }
    Ok(())
}

fn register(state: &mut State, tx: &mut dyn WriteTx, tenant: i64, project: i64, reg: Registration, now_us: u64, new_keys: &mut Vec<(String, Principal)>) -> Result<Reply, Failure> {
    let p = project_of(state, tenant, project)?;
    // Refused before anything is logged.
    p.settings.annotator_view(&reg, tessera_engine::time::SimTime(now_us))?;
    if tx.annotator_by_external(project, &reg.external_id)?.is_some() {
        return Err(ApiError::conflict(format!("an annotator with external_id {:?} is registered in this project", reg.external_id), None).with_field("external_id").into());
    }
    let id = tx.next_id("annotators")?;
    let core_id = p.core.annotators().len() as u32;
    p.annotator_rows.push(id);
    let token = auth::new_token("tsa");
    let external_id = reg.external_id.clone();
    feed(state, tx, project, Entry::Join { registration: reg }, now_us)?;
    poison(tx.put(Row::Annotator { id, project, core_id, external_id, token_hash: auth::hash(&token), at_us: now_us }))?;
    state.annotators.insert(id, (project, core_id));
    new_keys.push((auth::hash(&token), Principal::Annotator { id, tenant }));
    Ok(Reply::Annotator(api::AnnotatorCreated { annotator_id: id, token }))
}

/// Checks one new task before anything is written; returns its stream.
fn check_task(p: &ProjectState, t: &NewTask, at: &str) -> Result<u16, ApiError> {
    let s = &p.settings;
    let stream = match &t.stream {
        Some(name) => s.stream(name).ok_or_else(|| ApiError::unprocessable(format!("{at}stream"), format!("no stream named {name:?} in this project")))?,
        None if s.setup.streams.len() == 1 => 0,
        None => return Err(ApiError::unprocessable(format!("{at}stream"), format!("this project has {} streams: say which", s.setup.streams.len()))),
    };
    let info = &s.setup.streams[stream as usize];
    let payload_len = t.payload.to_string().len();
    if payload_len > MAX_PAYLOAD {
        return Err(ApiError::unprocessable(format!("{at}payload"), format!("{payload_len} bytes, more than the 1 MiB a payload may have")));
    }
    if let Some(u) = &t.unique_id {
        if u.is_empty() || u.len() > 256 {
            return Err(ApiError::unprocessable(format!("{at}unique_id"), "expected 1 to 256 characters"));
        }
    }
    if let Some(url) = &t.callback_url {
        if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 2048 {
            return Err(ApiError::unprocessable(format!("{at}callback_url"), "expected an http:// or https:// URL of at most 2048 characters"));
        }
    }
    if let Some(g) = t.gold_answer {
        if g >= info.classes.max(1) {
            return Err(ApiError::unprocessable(format!("{at}gold_answer"), format!("class {g} is outside the stream's {} classes", info.classes)));
        }
        if t.parts > 0 || t.part_of.is_some() {
            return Err(ApiError::unprocessable(format!("{at}gold_answer"), "a golden task cannot have or be a part"));
        }
    }
    if let Some(pl) = t.prelabel {
        if pl.label >= info.classes.max(1) {
            return Err(ApiError::unprocessable(format!("{at}prelabel.label"), format!("class {} is outside the stream's {} classes", pl.label, info.classes)));
        }
        if !(0.0..=1.0).contains(&pl.confidence) {
            return Err(ApiError::unprocessable(format!("{at}prelabel.confidence"), "expected a number between 0 and 1"));
        }
    } else if info.model.is_some() && t.gold_answer.is_none() {
        return Err(ApiError::unprocessable(format!("{at}prelabel"), format!("stream {:?} has a model stage: send the model's pre-label with the task", info.name)));
    }
    if t.parts > 10_000 {
        return Err(ApiError::unprocessable(format!("{at}parts"), "at most 10,000 parts"));
    }
    if let Some(d) = t.deadline_us {
        if d > 1u64 << 62 {
            return Err(ApiError::unprocessable(format!("{at}deadline_us"), "not a time in µs since the Unix epoch"));
        }
    }
    for (field, list) in [("unavailable_for", &t.unavailable_for), ("reserved_for", &t.reserved_for)] {
        if list.len() > 1000 {
            return Err(ApiError::unprocessable(format!("{at}{field}"), "at most 1000 annotators"));
        }
        for (i, a) in list.iter().enumerate() {
            if p.annotator_rows.binary_search(a).is_err() {
                return Err(ApiError::unprocessable(format!("{at}{field}[{i}]"), format!("no annotator {a} in this project")));
            }
        }
    }
    Ok(stream)
}

#[allow(clippy::too_many_arguments)]
fn create_tasks(state: &mut State, tx: &mut dyn WriteTx, tenant: i64, project: i64, tasks: Vec<NewTask>, (bulk, offset): (bool, usize), idempotency: Option<(String, String)>, now_us: u64) -> Result<Reply, Failure> {
    project_of(state, tenant, project)?;
    let route = if bulk { "tasks:bulk" } else { "tasks" };
    if let Some((key, hash)) = &idempotency {
        if let Some((h, status, body)) = tx.idempotent(tenant, key, route)? {
            if &h != hash {
                return Err(ApiError::unprocessable("Idempotency-Key", "this key was used with a different body").into());
            }
            return Ok(Reply::Stored(status, body));
        }
    }
    if offset + tasks.len() > MAX_BULK {
        return Err(ApiError::unprocessable("tasks", format!("{} tasks, more than the {MAX_BULK} a request may carry", tasks.len())).into());
    }
    let mut items = Vec::with_capacity(tasks.len());
    for (i, t) in tasks.into_iter().enumerate() {
        let at = if bulk { format!("tasks[{}].", offset + i) } else { String::new() };
        match create_one(state, tx, project, t, &at, now_us) {
            Ok(c) => items.push(Ok(c)),
            Err(Failure::Refused(e)) if bulk => items.push(Err(e)),
            Err(e) => return Err(e),
        }
    }
    let (status, reply) = if bulk {
        let out = BulkCreated {
            items: items
                .into_iter()
                .map(|r| match r {
                    Ok(c) => BulkItem { task_id: Some(c.task_id), status: 201, error: None },
                    Err(e) => BulkItem { task_id: e.body.existing_id.as_ref().and_then(|x| x.parse().ok()), status: e.status, error: Some(e.body.message) },
                })
                .collect(),
        };
        (200, Reply::Bulk(out))
    } else {
        match items.pop() {
            Some(Ok(c)) => (201, Reply::Task(c)),
            Some(Err(e)) => return Err(e.into()),
            None => return Err(ApiError::internal("no task").into()),
        }
    };
    if let Some((key, hash)) = idempotency {
        let body = match &reply {
            Reply::Bulk(b) => serde_json::to_string(b),
            Reply::Task(t) => serde_json::to_string(t),
            _ => Ok(String::new()),
        }
        .unwrap_or_default();
        poison(tx.put(Row::Idempotent { tenant, key, route: route.into(), body_hash: hash, status, response: body, at_us: now_us }))?;
    }
    Ok(reply)
}

fn create_one(state: &mut State, tx: &mut dyn WriteTx, project: i64, t: NewTask, at: &str, now_us: u64) -> Result<TaskCreated, Failure> {
    let p = state.projects.get(&project).expect("checked");
    let stream = check_task(p, &t, at)?;
    if let Some(u) = &t.unique_id {
        if let Some(existing) = tx.task_by_unique(project, u)? {
            return Err(ApiError::conflict(format!("a task with unique_id {u:?} exists: {existing}"), Some(existing.to_string())).with_field(format!("{at}unique_id")).into());
        }
    }
    let part_of = match t.part_of {
        Some(parent) => {
            // The core refuses a part of a task not waiting for parts; check first so nothing is logged.
            if !p.core.awaits_parts(TaskId(parent as u64)) {
                return Err(ApiError::unprocessable(format!("{at}part_of"), format!("task {parent} is not a live task of this project waiting for a part (it was created without `parts`, or all its parts came)")).into());
            }
            Some(TaskId(parent as u64))
        }
        None => None,
    };
    let id = tx.next_id("tasks")?;
    let row = Row::Task {
        id,
        project,
        stream,
        unique_id: t.unique_id.clone(),
        payload: t.payload.to_string(),
        metadata: t.metadata.to_string(),
        priority: t.priority,
        deadline_us: t.deadline_us,
        callback_url: t.callback_url.clone(),
        gold_answer: t.gold_answer,
        prelabel: t.prelabel.map(|pl| serde_json::to_string(&pl).unwrap_or_default()),
        status: if t.gold_answer.is_some() { "gold" } else { "waiting" },
        at_us: now_us,
    };
    // A store failure here would leave part of the task written: it poisons the batch.
    poison(tx.put(row))?;
    if let Some(answer) = t.gold_answer {
        let p = state.projects.get_mut(&project).expect("checked");
        let rows = p.gold[stream as usize].entry(answer).or_default();
        let new_answer = rows.is_empty();
        rows.push(id);
        if new_answer {
            let answers = p.gold_answers(stream);
            feed(state, tx, project, Entry::Gold { stream, answers }, now_us)?;
        }
        return Ok(TaskCreated { task_id: id, status: "gold".into() });
    }
    if let Some(pl) = t.prelabel {
        state.projects.get_mut(&project).expect("checked").prelabels.insert(id as u64, (pl.label, pl.confidence));
    }
    let p = state.projects.get(&project).expect("checked");
    let core_ids = |list: &[i64]| -> Vec<u32> { list.iter().filter_map(|a| p.annotator_rows.binary_search(a).ok().map(|i| i as u32)).collect() };
    let (unavailable_for, reserved_for) = (core_ids(&t.unavailable_for), core_ids(&t.reserved_for));
    let entry = Entry::Arrive { task: TaskId(id as u64), stream, parts: t.parts, part_of, priority: t.priority, deadline_us: t.deadline_us, unavailable_for, reserved_for };
    let effects = feed(state, tx, project, entry, now_us)?;
    if let Some(Effect::Rejected { reason, .. }) = effects.iter().find(|e| matches!(e, Effect::Rejected { .. })) {
        // Checked above, so this is a part whose dependant has all its parts.
        return Err(Failure::Poisoned(ApiError::unprocessable(format!("{at}part_of"), format!("refused by the core: {reason:?}"))));
    }
    let status = if t.parts > 0 { "waiting_for_parts" } else if effects.iter().any(|e| matches!(e, Effect::Final { .. })) { "final" } else { "waiting" };
    Ok(TaskCreated { task_id: id, status: status.into() })
}

/// The annotator a request is about, checked against who asks: a person acts only for
/// themselves, a tenant key for its own people.
fn annotator_of(state: &State, who: Principal, annotator: i64) -> Result<(i64, u32), ApiError> {
    let &(project, core_id) = state.annotators.get(&annotator).ok_or_else(|| ApiError::not_found("annotator"))?;
    let tenant = state.projects.get(&project).map(|p| p.tenant);
    match who {
        Principal::Annotator { id, .. } if id == annotator => Ok((project, core_id)),
        Principal::Tenant(t) if Some(t) == tenant => Ok((project, core_id)),
        _ => Err(ApiError::not_found("annotator")),
    }
}

fn lease_out(state: &State, tx: &mut dyn WriteTx, project: i64, assignment: u64) -> Result<Lease, Failure> {
    let p = &state.projects[&project];
    let l = &p.leases[&assignment];
    let (kind, proposed, stream) = match l.work {
        Work::Label { task } => ("labelling", None, p.core.task_view(task).map(|v| v.stream)),
        Work::Review { task, proposed } => ("review", Some(proposed), p.core.task_view(task).map(|v| v.stream)),
        Work::Gold { stream, .. } => ("gold", None, Some(stream)),
    };
    let s = &p.settings.setup;
    let info = stream.and_then(|i| s.streams.get(i as usize));
    let stream_name = info.map(|x| x.name.clone()).unwrap_or_default();
    let swapped = (proposed.is_none() && info.is_some_and(|x| x.pairwise())).then(|| tessera_engine::quality::bias::shown_swapped(assignment));
    let stage_name = if l.stage == u16::MAX { "gold".to_string() } else { s.stages.get(l.stage as usize).map(|r| r.name.clone()).unwrap_or_default() };
    let payload = poison(tx.payload(l.task))?;
    Ok(Lease {
        assignment_id: assignment,
        lease_epoch: l.epoch,
        expires_at_us: l.expires_us,
        task_id: l.task,
        kind: kind.into(),
        stream: stream_name,
        stage: stage_name,
        payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
        prelabel: l.prelabel,
        proposed,
        swapped,
    })
}

fn next(state: &mut State, tx: &mut dyn WriteTx, who: Principal, annotator: i64, now_us: u64) -> Result<Reply, Failure> {
    let (project, a) = annotator_of(state, who, annotator)?;
    let p = state.projects.get(&project).expect("annotator's project");
    // Asking again while holding a lease gets the same lease (a retried request loses nothing).
    if let Some(held) = p.core.holding(a) {
        if p.leases.contains_key(&held.0) {
            return Ok(Reply::Next(NextAnswer { lease: Some(lease_out(state, tx, project, held.0)?), retry_after_s: None }));
        }
    }
    let p = state.projects.get(&project).expect("annotator's project");
    // Nothing this person may take: answer without touching the core, so idle polling neither
    // changes state nor grows the log. (Golden items come mixed into real work at the quality
    // settings' rate, as in the simulation, not to people with nothing else to do.)
    if !p.core.has_waiting_for(a) {
        return Ok(Reply::Next(NextAnswer { lease: None, retry_after_s: Some(RETRY_AFTER_S) }));
    }
    let effects = feed(state, tx, project, Entry::Core { command: Command::AnnotatorReady { annotator: a } }, now_us)?;
    let got = effects.iter().find_map(|e| match e {
        Effect::Assign { assignment, annotator, work, prelabel, stage, .. } if *annotator == a => Some((assignment.0, *work, *prelabel, *stage)),
        _ => None,
    });
    match got {
        Some((assignment, ..)) => Ok(Reply::Next(NextAnswer { lease: Some(lease_out(state, tx, project, assignment)?), retry_after_s: None })),
        None => {
            // People pull work: nobody waits idle inside the core between requests.
            feed(state, tx, project, Entry::Core { command: Command::AnnotatorAway { annotator: a } }, now_us)?;
            Ok(Reply::Next(NextAnswer { lease: None, retry_after_s: Some(RETRY_AFTER_S) }))
        }
    }
}


fn answer_text(s: &api::Submit) -> String {
    format!("{:?}/{:?}", s.label, s.accept)
}

#[allow(clippy::too_many_arguments)]
fn submit_answer(state: &mut State, tx: &mut dyn WriteTx, who: Principal, annotator: i64, assignment: u64, submit: api::Submit, now_us: u64) -> Result<Reply, Failure> {
    let (project, a) = annotator_of(state, who, annotator)?;
    let answer = match (submit.label, submit.accept) {
        (Some(l), None) => Answer::Label(l),
        (None, Some(accept)) => Answer::Verdict { accept },
        _ => return Err(ApiError::unprocessable("label", "give exactly one of `label` (labelling and golden work) or `accept` (a review)").into()),
    };
    if let Some((given, response)) = tx.submission(project, assignment)? {
        if given == answer_text(&submit) {
            return Ok(Reply::Stored(200, response));
        }
        return Err(ApiError::conflict(format!("assignment {assignment} was already answered with a different answer"), None).into());
    }
    let lease = tx.lease(project, assignment)?;
    match &lease {
        Some(l) if l.annotator == annotator => {}
        _ => return Err(ApiError::not_found("assignment").into()),
    }
    let cmd = Command::Submitted { assignment: tessera_engine::core::AssignmentId(assignment), annotator: a, answer };
    // The core refuses without changing anything; check the refusals that are the caller's fault first.
    let effects = feed(state, tx, project, Entry::Core { command: cmd }, now_us)?;
    let mut out = Submitted { assignment_id: assignment, outcome: String::new(), late: false, task_status: None };
    for e in &effects {
        match e {
            Effect::LabelStored { assignment: x, fate, late, .. } if x.0 == assignment => {
                out.outcome = fate_name(*fate).into();
                out.late = *late;
            }
            Effect::GoldChecked { assignment: x, right, .. } if x.0 == assignment => out.outcome = if *right { "gold_right" } else { "gold_wrong" }.into(),
            Effect::Reviewed { assignment: x, applied, .. } if x.0 == assignment => out.outcome = if *applied { "verdict" } else { "late_verdict" }.into(),
            Effect::LeaseClosed { assignment: x, late, .. } if x.0 == assignment => out.late |= *late,
            Effect::Final { .. } => out.task_status = Some("final".into()),
            Effect::Rework { .. } => out.task_status = Some("rework".into()),
            Effect::Rejected { reason, .. } => {
                let e = match reason {
                    Rejection::LabelOutOfRange => ApiError::unprocessable("label", "the label is outside the stream's classes"),
                    Rejection::WrongAnswerKind => ApiError::unprocessable(if submit.label.is_some() { "label" } else { "accept" }, "this assignment wants the other kind of answer (a label for labelling and golden work, `accept` for a review)"),
                    Rejection::ForgottenAssignment => {
                        // Kept: a label is never dropped, even after the core forgot its lease.
                        out.outcome = "kept".into();
                        out.late = true;
                        let task = lease.as_ref().map_or(0, |l| l.task);
                        poison(tx.put(Row::Answer { project, assignment, task, annotator, kind: "labelling", label: submit.label, accept: submit.accept, fate: "kept", late: true, at_us: now_us }))?;
                        continue;
                    }
                    Rejection::NotTheHolder | Rejection::UnknownAssignment => ApiError::not_found("assignment"),
                    other => ApiError::conflict(format!("refused: {other:?}"), None),
                };
                // The core refused without a change; the log entry stays (a replay refuses it
                // again), so the batch commits and the caller gets the error.
                return Ok(Reply::Refused(e));
            }
            Effect::Duplicate { .. } => out.outcome = "duplicate".into(),
            _ => {}
        }
    }
    let response = serde_json::to_string(&out).unwrap_or_default();
    poison(tx.put(Row::Submission { project, assignment, answer: answer_text(&submit), response }))?;
    Ok(Reply::Submitted(out))
}

#[allow(clippy::too_many_arguments)]
fn release(state: &mut State, tx: &mut dyn WriteTx, who: Principal, annotator: i64, assignment: u64, skip: bool, now_us: u64) -> Result<Reply, Failure> {
    let (project, a) = annotator_of(state, who, annotator)?;
    let p = &state.projects[&project];
    match p.leases.get(&assignment) {
        Some(l) if l.annotator == a => {}
        Some(_) => return Err(ApiError::not_found("assignment").into()),
        None => return Err(ApiError::conflict(format!("assignment {assignment} is not open (answered, expired or given back)"), None).into()),
    }
    feed(state, tx, project, Entry::Core { command: Command::Returned { assignment: tessera_engine::core::AssignmentId(assignment), annotator: a, skip } }, now_us)?;
    Ok(Reply::Released(Released { assignment_id: assignment, outcome: if skip { "skipped" } else { "returned" }.into() }))
}

fn heartbeat(state: &mut State, tx: &mut dyn WriteTx, who: Principal, annotator: i64, assignment: u64, now_us: u64) -> Result<Reply, Failure> {
    let (project, a) = annotator_of(state, who, annotator)?;
    let p = state.projects.get_mut(&project).expect("annotator's project");
    let lease_us = p.settings.lease_us;
    let l = match p.leases.get_mut(&assignment) {
        Some(l) if l.annotator == a => l,
        Some(_) => return Err(ApiError::not_found("assignment").into()),
        None => return Err(ApiError::conflict(format!("assignment {assignment} is not open (answered, expired or given back)"), None).into()),
    };
    l.expires_us = now_us + lease_us;
    let expires_us = l.expires_us;
    state.due.push(std::cmp::Reverse((expires_us, project, DueWhat::Lease(assignment))));
    poison(tx.put(Row::LeaseExtended { project, assignment, expires_us }))?;
    Ok(Reply::Heartbeat(api::HeartbeatAnswer { assignment_id: assignment, expires_at_us: expires_us }))
}

/// Expires the leases and fires the timers due at `now_us`.
fn tick(state: &mut State, tx: &mut dyn WriteTx, now_us: u64) -> Result<Reply, Failure> {
    let mut fired = 0usize;
    while let Some(&std::cmp::Reverse((at, project, what))) = state.due.peek() {
        if at > now_us || fired >= 4096 {
            break;
        }
        state.due.pop();
        let Some(p) = state.projects.get(&project) else { continue };
        let entry = match what {
            DueWhat::Lease(asg) => match p.leases.get(&asg) {
                // A heartbeat moved it later: its own entry is in the heap.
                Some(l) if l.expires_us <= now_us => Entry::Core { command: Command::LeaseExpired { assignment: tessera_engine::core::AssignmentId(asg) } },
                _ => continue,
            },
            other => {
                if !p.timers.contains(&other) {
                    continue;
                }
                Entry::Core { command: Command::TimerFired { timer: other.timer().expect("core timer") } }
            }
        };
        feed(state, tx, project, entry, now_us)?;
        fired += 1;
    }
    Ok(Reply::Done)
}
