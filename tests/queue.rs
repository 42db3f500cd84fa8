//! Tasks in and final labels out through NATS JetStream, against a real nats-server: 10,000
//! task messages published while the server is killed (SIGKILL) and restarted, and then
//! nats-server itself: every task is created exactly once, and every final label is published
//! at least once, always with the same message id. (100,000 in the benchmark:
//! `benches/examples/cluster_dispatch.rs`.)

mod live_common;
use live_common::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_live::queue::nats::{Nats, LABELS_STREAM};
use tessera_live::queue::LabelQueue;

/// A model stage in front: a task whose pre-label is sure enough is final at once, so every
/// task yields a final label without people.
const SETTINGS: &str = r#"
[[streams]]
name = "docs"
task_type = "toxicity"
classes = 2
  [[streams.stages]]
  name = "pre"
  kind = "model"
  model = "classifier"
  next = [{ to = "final", when = { model_confidence_above = 0.5 } }, { to = "label" }]
  [[streams.stages]]
  name = "label"
  kind = "label"
  overlap = 1
[[models]]
name = "classifier"
accuracy = 0.9
latency = "0s"
"#;

const N: usize = 10_000;

#[test]
fn tasks_through_nats_are_created_once_and_labels_published_through_crashes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(mut nats) = OwnNats::start("tasks through NATS", &dir.path().join("nats")) else { return };
    let db = dir.path().join("live.db");
    let db = db.to_str().unwrap();
    let port = free_port();
    let queue_args = ["--queue", nats.url.as_str()];
    let mut server = serve_with(db, port, &queue_args);
    let key = tenant(port);
    let base = format!("http://127.0.0.1:{port}");
    let (st, p) = http("POST", &format!("{base}/v1/projects"), &key, Some(json!({ "name": "docs", "settings": SETTINGS })));
    assert_eq!(st, 201, "{p}");
    let project = p["id"].as_i64().unwrap();

    // The pipeline: publishes every task, retrying until JetStream acknowledges it (the same
    // Nats-Msg-Id each time); half carry their own unique_id.
    let published = Arc::new(AtomicUsize::new(0));
    let publisher = {
        let (url, published) = (nats.url.clone(), published.clone());
        std::thread::spawn(move || {
            let mut q = Nats::connect(&url).expect("connect to nats-server");
            for i in 0..N {
                let mut body = json!({ "payload": { "i": i }, "prelabel": { "label": i % 2, "confidence": 0.9 } });
                if i % 2 == 0 {
                    body["unique_id"] = json!(format!("u-{i}"));
                }
                let body = body.to_string();
                let started = Instant::now();
                while q.publish(&format!("tessera.tasks.{project}"), &format!("task-{i}"), body.as_bytes()).is_err() {
                    assert!(started.elapsed() < Duration::from_secs(120), "task {i} could not be published");
                    std::thread::sleep(Duration::from_millis(100));
                }
                published.store(i + 1, Ordering::Relaxed);
            }
        })
    };
    let wait_for = |n: usize| {
        let started = Instant::now();
        while published.load(Ordering::Relaxed) < n {
            assert!(started.elapsed() < Duration::from_secs(300), "publishing stalled at {}", published.load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Kill the server mid-stream, and restart it.
    wait_for(N * 3 / 10);
    server.kill().unwrap();
    server.wait().unwrap();
    server = serve_with(db, port, &queue_args);
    // Then nats-server.
    wait_for(N * 6 / 10);
    nats.kill();
    std::thread::sleep(Duration::from_millis(500));
    nats.up();
    publisher.join().expect("the publisher");

    // Every task exactly once: N final labels, each unique id once.
    let started = Instant::now();
    let tasks: Vec<serde_json::Value> = loop {
        let r = ureq::get(&format!("{base}/v1/projects/{project}/export?format=jsonl")).set("authorization", &format!("Bearer {key}")).call().unwrap();
        let rows: Vec<serde_json::Value> = r.into_string().unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if rows.len() >= N || started.elapsed() > Duration::from_secs(120) {
            break rows;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(tasks.len(), N, "tasks created (each final at once)");
    let uniques: BTreeSet<String> = tasks.iter().map(|t| t["unique_id"].as_str().unwrap().to_string()).collect();
    let expected: BTreeSet<String> = (0..N).map(|i| if i % 2 == 0 { format!("u-{i}") } else { format!("task-{i}") }).collect();
    assert_eq!(uniques, expected, "each task once: its own unique_id, else its Nats-Msg-Id");

    // Every final label published, at least once, with its one message id.
    let reader = Nats::connect(&nats.url).unwrap();
    let started = Instant::now();
    let ids: BTreeMap<String, usize> = loop {
        let msgs = reader.read_all(LABELS_STREAM, &format!("tessera.labels.{project}")).unwrap();
        let mut ids = BTreeMap::new();
        for (id, body) in &msgs {
            let id = id.clone().expect("every label message has a Nats-Msg-Id");
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            let task = v["data"]["task_id"].as_i64().unwrap();
            assert_eq!(id, format!("tessera-label-{task}-1"), "the message id names the task and its first final label");
            *ids.entry(id).or_insert(0) += 1;
        }
        if ids.len() >= N || started.elapsed() > Duration::from_secs(120) {
            break ids;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(ids.len(), N, "every final label was published");
    let task_ids: BTreeSet<String> = tasks.iter().map(|t| format!("tessera-label-{}-1", t["task_id"])).collect();
    assert_eq!(ids.keys().cloned().collect::<BTreeSet<_>>(), task_ids);

    // Beyond JetStream's duplicate window (simulated by new message ids), the store's unique
    // ids still hold: the same tasks published again create nothing.
    let mut q = Nats::connect(&nats.url).unwrap();
    for i in (0..200).step_by(2) {
        q.publish(&format!("tessera.tasks.{project}"), &format!("again-{i}"), json!({ "unique_id": format!("u-{i}"), "payload": {}, "prelabel": { "label": 0, "confidence": 0.9 } }).to_string().as_bytes()).unwrap();
    }
    let started = Instant::now();
    loop {
        let (_, m) = http("GET", &format!("{base}/metrics"), &key, None);
        let text = m.as_str().unwrap_or_default().to_string();
        let dups: u64 = text.lines().find(|l| l.starts_with("tessera_queue_tasks_total{outcome=\"duplicate\"}")).and_then(|l| l.split(' ').nth(1)).and_then(|n| n.parse().ok()).unwrap_or(0);
        if dups >= 100 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the republished tasks were not seen as duplicates ({dups})");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = ureq::get(&format!("{base}/v1/projects/{project}/export?format=jsonl")).set("authorization", &format!("Bearer {key}")).call().unwrap();
    assert_eq!(r.into_string().unwrap().lines().count(), N, "no task created twice");
    terminate(server);
}
