//! Tasks per second through the NATS path: a pipeline publishes `--tasks` task messages to
//! JetStream (each acknowledged by the broker; measured alone), then `tessera serve --queue` (in
//! this process) starts on the backlog, takes the messages, creates the tasks (a model stage
//! makes each final at once) and publishes every final label back. Measured: tasks created per
//! second from the backlog, and the time until every final label is on the labels stream.
//!
//!     scripts/services.sh start /tmp/svc && . /tmp/svc/env
//!     cargo run --release -p tessera-benches --example queue_throughput -- --nats $TESSERA_TEST_NATS --tasks 100000 [--pg $TESSERA_TEST_PG]

use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_live::queue::nats::{Nats, LABELS_STREAM};
use tessera_live::queue::LabelQueue;

const ADMIN: &str = "bench-admin-key-0123456789";
const SETTINGS: &str = "[[streams]]\nname = \"docs\"\ntask_type = \"toxicity\"\nclasses = 2\n  [[streams.stages]]\n  name = \"pre\"\n  kind = \"model\"\n  model = \"m\"\n  next = [{ to = \"final\", when = { model_confidence_above = 0.5 } }, { to = \"label\" }]\n  [[streams.stages]]\n  name = \"label\"\n  kind = \"label\"\n  overlap = 1\n[[models]]\nname = \"m\"\naccuracy = 0.9\nlatency = \"0s\"\n";

fn main() {
    let v: Vec<String> = std::env::args().skip(1).collect();
    let arg = |k: &str| v.iter().position(|x| x == k).and_then(|i| v.get(i + 1)).cloned();
    let nats = arg("--nats").expect("--nats nats://host:port");
    let tasks: usize = arg("--tasks").map_or(100_000, |x| x.parse().expect("--tasks N"));
    let tmp = tempfile::tempdir().unwrap();
    let db = match arg("--pg") {
        Some(server) => tessera_live::store::postgres::create_database(&server, "tessera_queue_bench", true).expect("a database on --pg"),
        None => tmp.path().join("live.db").display().to_string(),
    };
    // A fresh pair of streams: the bench owns this nats-server's tessera streams.
    {
        let c = Nats::connect(&nats).unwrap();
        c.delete_streams().unwrap();
    }
    // The project first (a server without the queue), then the backlog, then the server that takes it.
    let start = |queue: Option<String>| {
        let (tx, rx) = std::sync::mpsc::channel();
        let cfg = tessera_live::server::ServeConfig {
            db: db.clone(),
            listen: "127.0.0.1:0".into(),
            admin_key: Some(ADMIN.into()),
            delivery: Default::default(),
            workers: 2,
            clock: Arc::new(tessera_live::clock::SystemClock),
            queue,
            drift: Default::default(),
            rehearsal_speedup: None,
        };
        let server = std::thread::spawn(move || tessera_live::server::serve(cfg, move |addr, h| tx.send((addr, h)).unwrap()).unwrap());
        let (addr, handle) = rx.recv().unwrap();
        (format!("http://{addr}"), handle, server)
    };
    let (base, handle, server) = start(None);
    let key = ureq::post(&format!("{base}/v1/tenants")).set("authorization", &format!("Bearer {ADMIN}")).send_json(json!({ "name": "bench" })).unwrap().into_json::<serde_json::Value>().unwrap()["api_key"].as_str().unwrap().to_string();
    let project = ureq::post(&format!("{base}/v1/projects")).set("authorization", &format!("Bearer {key}")).send_json(json!({ "name": "q", "settings": SETTINGS })).unwrap().into_json::<serde_json::Value>().unwrap()["id"].as_i64().unwrap();
    actix_web::rt::System::new().block_on(handle.stop(true));
    server.join().unwrap();
    let started = Instant::now();
    let publisher = {
        let nats = nats.clone();
        std::thread::spawn(move || {
            let mut q = Nats::connect(&nats).unwrap();
            let body = |i: usize| json!({ "unique_id": format!("t-{i}"), "payload": { "i": i, "text": "x".repeat(200) }, "prelabel": { "label": i % 2, "confidence": 0.9 } }).to_string();
            for i in 0..tasks {
                q.publish(&format!("tessera.tasks.{project}"), &format!("t-{i}"), body(i).as_bytes()).unwrap();
            }
        })
    };
    publisher.join().unwrap();
    let publish_s = started.elapsed().as_secs_f64();
    eprintln!("published {tasks} task messages in {publish_s:.1} s ({:.0}/s, one broker acknowledgement each)", tasks as f64 / publish_s);
    let started = Instant::now();
    let (base, handle, server) = start(Some(nats.clone()));
    let metric = |name: &str| -> f64 {
        let m = ureq::get(&format!("{base}/metrics")).call().unwrap().into_string().unwrap();
        m.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().last()).and_then(|x| x.parse().ok()).unwrap_or(0.0)
    };

    while metric("tessera_queue_tasks_total{outcome=\"created\"}") < tasks as f64 {
        assert_eq!(metric("tessera_queue_tasks_total{outcome=\"rejected\"}"), 0.0, "task messages refused");
        assert!(started.elapsed() < Duration::from_secs(3600), "stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
    let created_s = started.elapsed().as_secs_f64();
    while metric("tessera_labels_published_total") < tasks as f64 {
        assert!(started.elapsed() < Duration::from_secs(3600), "stalled");
        std::thread::sleep(Duration::from_millis(50));
    }
    let labelled_s = started.elapsed().as_secs_f64();
    let on_stream = Nats::connect(&nats).unwrap().read_all(LABELS_STREAM, &format!("tessera.labels.{project}")).unwrap().len();
    actix_web::rt::System::new().block_on(handle.stop(true));
    server.join().unwrap();
    let store = if db.starts_with("postgres") { "postgres" } else { "sqlite" };
    println!(
        "{}",
        json!({ "store": store, "tasks": tasks, "publish_per_s": tasks as f64 / publish_s, "created_per_s": tasks as f64 / created_s, "seconds_to_all_created": created_s, "seconds_to_all_labels_published": labelled_s, "labels_on_stream": on_stream })
    );
    eprintln!("{store}: a backlog of {tasks} tasks created in {created_s:.1} s from the server's start ({:.0} tasks/s); every final label on the labels stream after {labelled_s:.1} s ({on_stream} messages)", tasks as f64 / created_s);
}
