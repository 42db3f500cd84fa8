//! The HTTP API under `/v1` (actix-web), its OpenAPI document (generated from these handlers'
//! annotations by utoipa), `/metrics` and `/healthz`. Handlers authenticate, parse the body
//! (naming the field at fault), hand writes to the store's writer and answer once the write is
//! durable; reads go to the store's read connections.

use crate::api::{self, BulkTasks, NewTask, TaskPage};
use crate::auth::Keys;
use crate::error::{parse_json, ApiError, ErrorBody};
use crate::metrics::Metrics;
use crate::ops::{Op, Principal, Reply};
use crate::project::Registration;
use crate::store::{Store, TaskQuery};
use actix_web::{web, HttpRequest, HttpResponse};
use base64::Engine;
use futures_util::StreamExt;
use sha2::Digest;
use std::sync::Arc;
use utoipa::OpenApi;

/// What every handler shares.
pub struct App {
    pub store: Arc<Store>,
    pub keys: Arc<Keys>,
    pub metrics: Arc<Metrics>,
    /// A rehearsal server (`tessera serve --rehearsal-speedup`), written in trace headers.
    pub rehearsal: Option<crate::trace::Rehearsal>,
}

/// Largest body of a single-object request, and of a bulk request.
pub const BODY_LIMIT: usize = 2 << 20;
pub const BULK_LIMIT: usize = 64 << 20;

impl App {
    async fn who(&self, req: &HttpRequest) -> Result<Principal, ApiError> {
        let h = req.headers().get("authorization").and_then(|v| v.to_str().ok()).ok_or_else(ApiError::unauthorized)?;
        let token = h.strip_prefix("Bearer ").ok_or_else(ApiError::unauthorized)?;
        let token = token.trim();
        if let Some(p) = self.keys.who(token) {
            return Ok(p);
        }
        // A key or token another node made (a store shared by several nodes): the store knows it.
        let hash = crate::auth::hash(token);
        let h = hash.clone();
        let p = self.read(move |s| s.principal(&h)).await?.ok_or_else(ApiError::unauthorized)?;
        self.keys.add(hash, p);
        Ok(p)
    }
    async fn tenant(&self, req: &HttpRequest) -> Result<i64, ApiError> {
        match self.who(req).await? {
            Principal::Tenant(t) => Ok(t),
            Principal::Admin => Err(ApiError::forbidden("the admin key manages tenants only; use a tenant's API key")),
            Principal::Annotator { .. } => Err(ApiError::forbidden("an annotator token may only lease and answer its own work")),
        }
    }
    async fn write(&self, op: Op) -> Result<Reply, ApiError> {
        let rx = self.store.submit(op)?;
        rx.await.map_err(|_| ApiError::unavailable("the writer stopped"))?
    }
    async fn read<T: Send + 'static>(&self, f: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
        let store = self.store.clone();
        web::block(move || f(&store)).await.map_err(|_| ApiError::internal("read task failed"))?
    }
}

/// Reads a body of at most `limit` bytes (413 past it).
async fn body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, ApiError> {
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad("body", format!("cannot read the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(ApiError::new(413, "payload_too_large", format!("the body is larger than {limit} bytes")));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

fn unexpected(r: Reply) -> ApiError {
    ApiError::internal(format!("unexpected reply {r:?}"))
}

fn stored(status: u16, body: String) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK)).content_type("application/json").insert_header(("Idempotent-Replayed", "true")).body(body)
}

/// Creates a tenant and its first API key (admin key).
#[utoipa::path(post, path = "/v1/tenants", request_body = api::CreateTenant, responses((status = 201, body = api::TenantCreated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_tenant(req: HttpRequest, app: web::Data<App>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    if app.who(&req).await? != Principal::Admin {
        return Err(ApiError::forbidden("creating tenants needs the admin key"));
    }
    let b: api::CreateTenant = parse_json(&body(payload, BODY_LIMIT).await?)?;
    match app.write(Op::CreateTenant { name: b.name }).await? {
        Reply::Tenant(t) => Ok(HttpResponse::Created().json(t)),
        r => Err(unexpected(r)),
    }
}

/// Another API key for a tenant (admin key).
#[utoipa::path(post, path = "/v1/tenants/{tenant_id}/keys", params(("tenant_id" = i64, Path)), responses((status = 201, body = api::KeyCreated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn create_key(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    if app.who(&req).await? != Principal::Admin {
        return Err(ApiError::forbidden("creating keys needs the admin key"));
    }
    match app.write(Op::CreateKey { tenant: path.into_inner() }).await? {
        Reply::Key(k) => Ok(HttpResponse::Created().json(k)),
        r => Err(unexpected(r)),
    }
}

/// Creates a project from settings in the scenario schema.
#[utoipa::path(post, path = "/v1/projects", request_body = api::CreateProject, responses((status = 201, body = api::Project), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_project(req: HttpRequest, app: web::Data<App>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let b: api::CreateProject = parse_json(&body(payload, BODY_LIMIT).await?)?;
    match app.write(Op::CreateProject { tenant, req: b }).await? {
        Reply::Project(p) => Ok(HttpResponse::Created().json(p)),
        r => Err(unexpected(r)),
    }
}

/// A project's streams, groups and routing.
#[utoipa::path(get, path = "/v1/projects/{project_id}", params(("project_id" = i64, Path)), responses((status = 200, body = api::Project), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_project(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let id = path.into_inner();
    let (settings, _) = app.read(move |s| s.project_for_replay(tenant, id)).await?.ok_or_else(|| ApiError::not_found("project"))?;
    let name = app.read(move |s| s.project_name(id)).await?;
    Ok(HttpResponse::Ok().json(crate::ops::project_view(id, name, &settings, None)))
}

/// Registers a person with a project; the answer carries their token (shown once).
#[utoipa::path(post, path = "/v1/projects/{project_id}/annotators", params(("project_id" = i64, Path)), request_body = Registration, responses((status = 201, body = api::AnnotatorCreated), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn register(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let reg: Registration = parse_json(&body(payload, BODY_LIMIT).await?)?;
    match app.write(Op::Register { tenant, project: path.into_inner(), reg }).await? {
        Reply::Annotator(a) => Ok(HttpResponse::Created().json(a)),
        r => Err(unexpected(r)),
    }
}

fn idempotency(req: &HttpRequest, body: &[u8]) -> Result<Option<(String, String)>, ApiError> {
    let Some(k) = req.headers().get("idempotency-key") else { return Ok(None) };
    let k = k.to_str().map_err(|_| ApiError::bad("Idempotency-Key", "not visible ASCII"))?;
    if k.is_empty() || k.len() > 255 {
        return Err(ApiError::bad("Idempotency-Key", "expected 1 to 255 characters"));
    }
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body));
    Ok(Some((k.to_string(), hash)))
}

/// Creates a task (`Idempotency-Key` makes a retry return the stored answer).
#[utoipa::path(post, path = "/v1/projects/{project_id}/tasks", params(("project_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = NewTask, responses((status = 201, body = api::TaskCreated), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_task(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let raw = body(payload, BODY_LIMIT).await?;
    let t: NewTask = parse_json(&raw)?;
    let idem = idempotency(&req, &raw)?;
    match app.write(Op::CreateTasks { tenant, project: path.into_inner(), tasks: vec![t], bulk: false, offset: 0, idempotency: idem }).await? {
        Reply::Task(t) => Ok(HttpResponse::Created().json(t)),
        Reply::Stored(s, b) => Ok(stored(s, b)),
        r => Err(unexpected(r)),
    }
}

/// Tasks a bulk request writes per commit: the single writer is never held for long, so
/// dispatch keeps its latency while a large import runs.
const BULK_CHUNK: usize = 250;

/// Creates up to 10,000 tasks; each item says created, duplicate or why refused. They are
/// written in chunks of 250, each durable before the next; with an `Idempotency-Key` a retry
/// after a failure part-way returns the chunks already written and writes the rest.
#[utoipa::path(post, path = "/v1/projects/{project_id}/tasks/bulk", params(("project_id" = i64, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = BulkTasks, responses((status = 200, body = api::BulkCreated), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn create_bulk(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let raw = body(payload, BULK_LIMIT).await?;
    let b: BulkTasks = parse_json(&raw)?;
    let idem = idempotency(&req, &raw)?;
    let project = path.into_inner();
    if b.tasks.len() > 10_000 {
        return Err(ApiError::unprocessable("tasks", format!("{} tasks, more than the 10000 a request may carry", b.tasks.len())));
    }
    let mut items = Vec::with_capacity(b.tasks.len());
    let mut tasks = b.tasks;
    let mut offset = 0;
    loop {
        let rest = tasks.split_off(tasks.len().min(BULK_CHUNK));
        let chunk = std::mem::replace(&mut tasks, rest);
        let n = chunk.len();
        // Each chunk's answer is kept under the key and the chunk's place in the request.
        let key = idem.as_ref().map(|(k, h)| (format!("{k}#{offset}"), h.clone()));
        let created = match app.write(Op::CreateTasks { tenant, project, tasks: chunk, bulk: true, offset, idempotency: key }).await? {
            Reply::Bulk(b) => b,
            Reply::Stored(_, body) => serde_json::from_str(&body).map_err(|e| ApiError::internal(format!("a stored answer does not parse: {e}")))?,
            r => return Err(unexpected(r)),
        };
        items.extend(created.items);
        offset += n;
        if tasks.is_empty() {
            break;
        }
    }
    Ok(HttpResponse::Ok().json(api::BulkCreated { items }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// [µs since the Unix epoch] only tasks changed after this.
    updated_after_us: Option<u64>,
    /// From the previous page's `next_cursor`.
    cursor: Option<String>,
    /// 1 to 1000 (default 100).
    limit: Option<usize>,
    /// Only tasks in this state.
    status: Option<String>,
}

/// Lists a project's tasks by last change, a page at a time.
#[utoipa::path(get, path = "/v1/projects/{project_id}/tasks", params(("project_id" = i64, Path), ListQuery), responses((status = 200, body = TaskPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn list_tasks(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let q: ListQuery = web::Query::<ListQuery>::from_query(req.query_string()).map_err(|e| ApiError::bad("query", e.to_string()))?.into_inner();
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad("limit", "expected 1 to 1000"));
    }
    let after = match &q.cursor {
        Some(c) => {
            let (u, id) = c.split_once('.').ok_or_else(|| ApiError::bad("cursor", "not a cursor this server gave"))?;
            Some((u.parse().map_err(|_| ApiError::bad("cursor", "not a cursor this server gave"))?, id.parse().map_err(|_| ApiError::bad("cursor", "not a cursor this server gave"))?))
        }
        None => None,
    };
    let project = path.into_inner();
    if app.read(move |s| s.project_tenant(project)).await? != Some(tenant) {
        return Err(ApiError::not_found("project"));
    }
    let query = TaskQuery { updated_after_us: q.updated_after_us, after, limit, status: q.status };
    let tasks = app.read(move |s| s.tasks(tenant, project, &query)).await?;
    let next_cursor = (tasks.len() == limit).then(|| tasks.last().map(|t| format!("{}.{}", t.updated_us, t.id))).flatten();
    Ok(HttpResponse::Ok().json(TaskPage { tasks, next_cursor }))
}

/// A task: state, stage, final label with confidence and vote shares.
#[utoipa::path(get, path = "/v1/tasks/{task_id}", params(("task_id" = i64, Path)), responses((status = 200, body = api::Task), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_task(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let id = path.into_inner();
    let t = app.read(move |s| s.task(tenant, id)).await?.ok_or_else(|| ApiError::not_found("task"))?;
    Ok(HttpResponse::Ok().json(t))
}

/// Every answer stored for a task (counted, extra, discarded, late, kept).
#[utoipa::path(get, path = "/v1/tasks/{task_id}/answers", params(("task_id" = i64, Path)), responses((status = 200, body = Vec<api::AnswerOut>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_answers(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let id = path.into_inner();
    let a = app.read(move |s| s.answers(tenant, id)).await?.ok_or_else(|| ApiError::not_found("task"))?;
    Ok(HttpResponse::Ok().json(a))
}

/// The webhook messages of a task and every delivery attempt.
#[utoipa::path(get, path = "/v1/tasks/{task_id}/deliveries", params(("task_id" = i64, Path)), responses((status = 200, body = Vec<api::DeliveryOut>), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn get_deliveries(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let id = path.into_inner();
    let d = app.read(move |s| s.deliveries(tenant, id)).await?.ok_or_else(|| ApiError::not_found("task"))?;
    Ok(HttpResponse::Ok().json(d))
}

/// Delivers the task's latest webhook message again (its retry schedule starts over).
#[utoipa::path(post, path = "/v1/tasks/{task_id}/redeliver", params(("task_id" = i64, Path)), responses((status = 202), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn redeliver(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let id = path.into_inner();
    if app.read(move |s| s.task(tenant, id)).await?.is_none() {
        return Err(ApiError::not_found("task"));
    }
    app.write(Op::Redeliver { tenant, task: id }).await?;
    Ok(HttpResponse::Accepted().finish())
}

/// Leases the task the project's routing policy picks for this person, or says when to ask again.
#[utoipa::path(post, path = "/v1/annotators/{annotator_id}/next", params(("annotator_id" = i64, Path)), responses((status = 200, body = api::NextAnswer), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn next(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let who = app.who(&req).await?;
    match app.write(Op::Next { who, annotator: path.into_inner() }).await? {
        Reply::Next(n) => Ok(HttpResponse::Ok().json(n)),
        r => Err(unexpected(r)),
    }
}

/// Answers an assignment (idempotent: the same answer again gets the same reply).
#[utoipa::path(post, path = "/v1/annotators/{annotator_id}/assignments/{assignment_id}/submit", params(("annotator_id" = i64, Path), ("assignment_id" = u64, Path)), request_body = api::Submit, responses((status = 200, body = api::Submitted), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)), security(("bearer" = [])))]
async fn submit(req: HttpRequest, app: web::Data<App>, path: web::Path<(i64, u64)>, payload: web::Payload) -> Result<HttpResponse, ApiError> {
    let who = app.who(&req).await?;
    let (annotator, assignment) = path.into_inner();
    let s: api::Submit = parse_json(&body(payload, BODY_LIMIT).await?)?;
    match app.write(Op::Submit { who, annotator, assignment, submit: s }).await? {
        Reply::Submitted(s) => Ok(HttpResponse::Ok().json(s)),
        Reply::Stored(st, b) => Ok(stored(st, b)),
        r => Err(unexpected(r)),
    }
}

async fn release(req: HttpRequest, app: web::Data<App>, annotator: i64, assignment: u64, skip: bool) -> Result<HttpResponse, ApiError> {
    let who = app.who(&req).await?;
    match app.write(Op::Release { who, annotator, assignment, skip }).await? {
        Reply::Released(r) => Ok(HttpResponse::Ok().json(r)),
        r => Err(unexpected(r)),
    }
}

/// Gives an assignment back unanswered; the slot returns to the queue.
#[utoipa::path(post, path = "/v1/annotators/{annotator_id}/assignments/{assignment_id}/return", params(("annotator_id" = i64, Path), ("assignment_id" = u64, Path)), responses((status = 200, body = api::Released), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn give_back(req: HttpRequest, app: web::Data<App>, path: web::Path<(i64, u64)>) -> Result<HttpResponse, ApiError> {
    let (a, asg) = path.into_inner();
    release(req, app, a, asg, false).await
}

/// Skips an assignment: it goes back to the queue and is never offered to this person again.
#[utoipa::path(post, path = "/v1/annotators/{annotator_id}/assignments/{assignment_id}/skip", params(("annotator_id" = i64, Path), ("assignment_id" = u64, Path)), responses((status = 200, body = api::Released), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn skip(req: HttpRequest, app: web::Data<App>, path: web::Path<(i64, u64)>) -> Result<HttpResponse, ApiError> {
    let (a, asg) = path.into_inner();
    release(req, app, a, asg, true).await
}

/// Extends an open lease by the project's lease length from now.
#[utoipa::path(post, path = "/v1/annotators/{annotator_id}/assignments/{assignment_id}/heartbeat", params(("annotator_id" = i64, Path), ("assignment_id" = u64, Path)), responses((status = 200, body = api::HeartbeatAnswer), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)), security(("bearer" = [])))]
async fn heartbeat(req: HttpRequest, app: web::Data<App>, path: web::Path<(i64, u64)>) -> Result<HttpResponse, ApiError> {
    let who = app.who(&req).await?;
    let (annotator, assignment) = path.into_inner();
    match app.write(Op::Heartbeat { who, annotator, assignment }).await? {
        Reply::Heartbeat(h) => Ok(HttpResponse::Ok().json(h)),
        r => Err(unexpected(r)),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct ExportQuery {
    /// csv (default) or jsonl.
    format: Option<String>,
}

/// A streamed body fed by a blocking producer.
fn streamed(content_type: &'static str, produce: impl FnOnce(tokio::sync::mpsc::Sender<Result<web::Bytes, ApiError>>) + Send + 'static) -> HttpResponse {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<web::Bytes, ApiError>>(8);
    std::thread::spawn(move || produce(tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    HttpResponse::Ok().content_type(content_type).streaming(stream)
}

/// The project's final labels, streamed: CSV (`task_id,unique_id,stream,label,confidence`) or JSONL.
#[utoipa::path(get, path = "/v1/projects/{project_id}/export", params(("project_id" = i64, Path), ExportQuery), responses((status = 200, content_type = "text/csv"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn export(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let q: ExportQuery = web::Query::<ExportQuery>::from_query(req.query_string()).map_err(|e| ApiError::bad("query", e.to_string()))?.into_inner();
    let jsonl = match q.format.as_deref() {
        None | Some("csv") => false,
        Some("jsonl") => true,
        Some(other) => return Err(ApiError::bad("format", format!("{other:?}: expected csv or jsonl"))),
    };
    let project = path.into_inner();
    let (settings, _) = app.read(move |s| s.project_for_replay(tenant, project)).await?.ok_or_else(|| ApiError::not_found("project"))?;
    let names: Vec<String> = settings.setup.streams.iter().map(|s| s.name.clone()).collect();
    let store = app.store.clone();
    Ok(streamed(if jsonl { "application/x-ndjson" } else { "text/csv" }, move |tx| {
        if !jsonl && tx.blocking_send(Ok(web::Bytes::from_static(b"task_id,unique_id,stream,label,confidence\n"))).is_err() {
            return;
        }
        let mut after = 0;
        loop {
            let page = match store.finals(tenant, project, after, 1000) {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    return;
                }
            };
            if page.is_empty() {
                return;
            }
            let mut out = String::new();
            for (id, unique, stream, label, conf) in page {
                after = id;
                let sname = names.get(stream as usize).map_or("", String::as_str);
                if jsonl {
                    out.push_str(&serde_json::json!({"task_id": id, "unique_id": unique, "stream": sname, "label": label, "confidence": conf}).to_string());
                    out.push('\n');
                } else {
                    let u = unique.map(|u| if u.contains([',', '"', '\n']) { format!("\"{}\"", u.replace('"', "\"\"")) } else { u }).unwrap_or_default();
                    out.push_str(&format!("{id},{u},{sname},{label},{conf}\n"));
                }
            }
            if tx.blocking_send(Ok(web::Bytes::from(out))).is_err() {
                return;
            }
        }
    }))
}

/// The project's event trace (schema tessera.trace/2, as `tessera simulate --trace` writes it), streamed.
#[utoipa::path(get, path = "/v1/projects/{project_id}/trace", params(("project_id" = i64, Path)), responses((status = 200, content_type = "application/x-ndjson"), (status = 404, body = ErrorBody)), security(("bearer" = [])))]
async fn trace(req: HttpRequest, app: web::Data<App>, path: web::Path<i64>) -> Result<HttpResponse, ApiError> {
    let tenant = app.tenant(&req).await?;
    let project = path.into_inner();
    let (settings, _) = app.read(move |s| s.project_for_replay(tenant, project)).await?.ok_or_else(|| ApiError::not_found("project"))?;
    let store = app.store.clone();
    let rehearsal = app.rehearsal;
    Ok(streamed("application/x-ndjson", move |tx| {
        let r = crate::trace::write(&settings, &format!("project-{project}"), rehearsal, |after| store.log(project, after, 4096).map_err(|e| e.body.message), |chunk| tx.blocking_send(Ok(web::Bytes::from(chunk))).is_ok());
        if let Err(e) = r {
            let _ = tx.blocking_send(Err(ApiError::internal(e)));
        }
    }))
}

/// Liveness: the server answers and the store is readable.
#[utoipa::path(get, path = "/healthz", responses((status = 200, body = api::Health), (status = 503, body = ErrorBody)))]
async fn healthz(app: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let n = app.read(|s| s.project_count()).await?;
    Ok(HttpResponse::Ok().json(api::Health { status: "ok".into(), projects: n }))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, content_type = "text/plain")))]
async fn metrics(app: web::Data<App>) -> Result<HttpResponse, ApiError> {
    let backlog = app.read(|s| s.pending_messages()).await?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(app.metrics.render(backlog)))
}

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components.get_or_insert_with(Default::default).add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The OpenAPI 3 document, generated from the handlers above.
#[derive(OpenApi)]
#[openapi(
    info(title = "Tessera live dispatch", description = "Tasks in, work out to people, final labels back by webhook. Decisions are the same decision core the simulator runs."),
    paths(create_tenant, create_key, create_project, get_project, register, create_task, create_bulk, list_tasks, get_task, get_answers, get_deliveries, redeliver, next, submit, give_back, skip, heartbeat, export, trace, healthz, metrics),
    modifiers(&Security)
)]
pub struct ApiDoc;

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(ApiDoc::openapi().to_json().unwrap_or_default())
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let e = ApiError::new(404, "not_found", format!("no route {} {}", req.method(), req.path()));
    actix_web::ResponseError::error_response(&e)
}

/// Registers every route on an actix service config.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let path_error = web::PathConfig::default().error_handler(|e, _| ApiError::bad("path", format!("a path parameter is not valid: {e}")).into());
    let query_error = web::QueryConfig::default().error_handler(|e, _| ApiError::bad("query", e.to_string()).into());
    // Scopes by prefix, so that a request is matched against a few patterns, not all of them.
    cfg.app_data(path_error)
        .app_data(query_error)
        .service(
            web::scope("/v1/annotators/{annotator_id}")
                .route("/next", web::post().to(next))
                .route("/assignments/{assignment_id}/submit", web::post().to(submit))
                .route("/assignments/{assignment_id}/return", web::post().to(give_back))
                .route("/assignments/{assignment_id}/skip", web::post().to(skip))
                .route("/assignments/{assignment_id}/heartbeat", web::post().to(heartbeat)),
        )
        .service(
            web::scope("/v1/tasks/{task_id}")
                .route("", web::get().to(get_task))
                .route("/answers", web::get().to(get_answers))
                .route("/deliveries", web::get().to(get_deliveries))
                .route("/redeliver", web::post().to(redeliver)),
        )
        .service(
            web::scope("/v1/projects")
                .route("", web::post().to(create_project))
                .route("/{project_id}", web::get().to(get_project))
                .route("/{project_id}/annotators", web::post().to(register))
                .route("/{project_id}/tasks", web::post().to(create_task))
                .route("/{project_id}/tasks", web::get().to(list_tasks))
                .route("/{project_id}/tasks/bulk", web::post().to(create_bulk))
                .route("/{project_id}/export", web::get().to(export))
                .route("/{project_id}/trace", web::get().to(trace)),
        )
        .route("/v1/tenants", web::post().to(create_tenant))
        .route("/v1/tenants/{tenant_id}/keys", web::post().to(create_key))
        .route("/v1/openapi.json", web::get().to(openapi))
        .route("/healthz", web::get().to(healthz))
        .route("/metrics", web::get().to(metrics))
        .default_service(web::to(not_found));
}
