//! The two threads between the queue and the store. Ingest: fetch task messages, create their
//! tasks through the writer (one bulk operation per project per fetch), and settle each message
//! only after its task is committed. Publish: read final labels not yet published, publish
//! each with its message id, and mark them published once the broker acknowledged them.

use super::{Incoming, LabelQueue, Settle, TaskQueue};
use crate::api::NewTask;
use crate::error::parse_json;
use crate::metrics::Metrics;
use crate::ops::{Op, Reply};
use crate::store::Store;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Task messages fetched at once (and created in one bulk operation per project).
const FETCH: usize = 250;

/// Connects with `connect` until it works or `stop` is set (the queue may start after us).
pub fn connect_until<Q>(what: &str, stop: &AtomicBool, mut connect: impl FnMut() -> anyhow::Result<Q>) -> Option<Q> {
    let mut warned = false;
    while !stop.load(Ordering::Relaxed) {
        match connect() {
            Ok(q) => {
                tracing::info!(queue = what, "connected");
                return Some(q);
            }
            Err(e) => {
                if !warned {
                    tracing::warn!(queue = what, error = %e, "cannot connect yet; retrying every second");
                    warned = true;
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        }
    }
    None
}

/// The project a task subject names (`tessera.tasks.<project id>`).
fn project_of(subject: &str) -> Option<i64> {
    subject.rsplit('.').next()?.parse().ok()
}

/// Takes task messages until `stop` is set.
pub fn ingest(store: Arc<Store>, mut q: Box<dyn TaskQueue>, metrics: Arc<Metrics>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let msgs = match q.fetch(FETCH, Duration::from_millis(500)) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "cannot fetch task messages; retrying");
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        // By project, in the order fetched.
        let mut groups: Vec<(i64, Vec<(u64, NewTask)>)> = Vec::new();
        for m in msgs {
            match task_of(&m) {
                Ok((project, task)) => match groups.iter_mut().find(|(p, _)| *p == project) {
                    Some((_, g)) => g.push((m.token, task)),
                    None => groups.push((project, vec![(m.token, task)])),
                },
                Err(why) => reject(&mut *q, &metrics, &m.subject, m.position, &why, m.token),
            }
        }
        for (project, items) in groups {
            let (tokens, tasks): (Vec<u64>, Vec<NewTask>) = items.into_iter().unzip();
            let tenant = match store.project_tenant(project) {
                Ok(Some(t)) => t,
                Ok(None) => {
                    for t in tokens {
                        reject(&mut *q, &metrics, &format!("tessera.tasks.{project}"), 0, &format!("no project {project}"), t);
                    }
                    continue;
                }
                Err(e) => {
                    retry_all(&mut *q, &tokens, &e.body.message);
                    continue;
                }
            };
            match store.write_blocking(Op::CreateTasks { tenant, project, tasks, bulk: true, offset: 0, idempotency: None }) {
                Ok(Reply::Bulk(b)) => {
                    for (item, token) in b.items.iter().zip(tokens) {
                        let how = match item.status {
                            201 => {
                                metrics.queue_created.fetch_add(1, Ordering::Relaxed);
                                Settle::Done
                            }
                            // Its unique id is taken: a redelivery of a task already created.
                            409 if item.task_id.is_some() => {
                                metrics.queue_duplicates.fetch_add(1, Ordering::Relaxed);
                                Settle::Done
                            }
                            _ => {
                                metrics.queue_rejected.fetch_add(1, Ordering::Relaxed);
                                tracing::error!(project, error = item.error.as_deref().unwrap_or(""), "a task message was refused; it stays in the stream, undelivered");
                                Settle::Reject
                            }
                        };
                        if let Err(e) = q.settle(token, how) {
                            tracing::warn!(error = %e, "cannot settle a task message (it will be delivered again, harmlessly)");
                        }
                    }
                }
                Ok(other) => tracing::error!(?other, "unexpected answer to a bulk creation"),
                Err(e) if e.status >= 500 => retry_all(&mut *q, &tokens, &e.body.message),
                Err(e) => {
                    for t in tokens {
                        reject(&mut *q, &metrics, &format!("tessera.tasks.{project}"), 0, &e.body.message, t);
                    }
                }
            }
        }
    }
}

/// A message's project and task, or why it can never be one.
pub fn task_of(m: &Incoming) -> Result<(i64, NewTask), String> {
    let project = project_of(&m.subject).ok_or_else(|| format!("subject {:?} does not end in a project id (tessera.tasks.<project id>)", m.subject))?;
    let mut task: NewTask = parse_json(&m.payload).map_err(|e| e.body.message)?;
    // Redelivery must not create a second task: the task's own unique id, else the message
    // id, else its place in the stream.
    if task.unique_id.is_none() {
        task.unique_id = Some(m.msg_id.clone().unwrap_or_else(|| format!("nats-seq-{}", m.position)));
    }
    Ok((project, task))
}

fn reject(q: &mut dyn TaskQueue, metrics: &Metrics, subject: &str, position: u64, why: &str, token: u64) {
    metrics.queue_rejected.fetch_add(1, Ordering::Relaxed);
    tracing::error!(subject, position, error = why, "a task message can never become a task; it stays in the stream, undelivered");
    if let Err(e) = q.settle(token, Settle::Reject) {
        tracing::warn!(error = %e, "cannot settle a task message");
    }
}

fn retry_all(q: &mut dyn TaskQueue, tokens: &[u64], why: &str) {
    tracing::warn!(error = why, messages = tokens.len(), "the store cannot take tasks now; they will be delivered again");
    for &t in tokens {
        let _ = q.settle(t, Settle::Retry(Duration::from_secs(1)));
    }
}

/// Publishes final labels until `stop` is set.
pub fn publish(store: Arc<Store>, mut q: Box<dyn LabelQueue>, metrics: Arc<Metrics>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let events = match store.unpublished_labels(256) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e.body.message, "cannot read final labels to publish");
                std::thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        if events.is_empty() {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let mut done = Vec::with_capacity(events.len());
        let mut failed = false;
        for ev in &events {
            match q.publish(&format!("tessera.labels.{}", ev.project), &ev.msg_id, ev.body.as_bytes()) {
                Ok(_) => done.push(ev.id),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot publish a final label; retrying");
                    failed = true;
                    break;
                }
            }
        }
        if !done.is_empty() {
            metrics.labels_published.fetch_add(done.len() as u64, Ordering::Relaxed);
            if let Err(e) = store.write_blocking(Op::Published { ids: done }) {
                // Published again later, with the same ids: the broker or the consumer drops the copy.
                tracing::warn!(error = %e.body.message, "cannot mark labels published");
            }
        }
        if failed {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}
