//! Several `tessera serve` processes on one PostgreSQL database, as in production behind a load
//! balancer: one killed with SIGKILL in the middle of a loadgen run loses nothing and the others
//! finish the run; the leases a dead node handed out expire on the others; PostgreSQL restarted
//! under load gives clear 503s with Retry-After during the outage, and the nodes carry on.

mod live_common;
use live_common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const SETTINGS: &str = "[[streams]]\nname = \"img\"\ntask_type = \"bbox\"\nclasses = 3\n[quality]\noverlap = 1\n";

fn database(test: &str) -> Option<String> {
    if !postgres_available(test) {
        return None;
    }
    let server = std::env::var("TESSERA_TEST_PG").unwrap();
    let name = format!("tessera_cluster_{}_{}", test.replace([' ', '-'], "_"), std::process::id());
    Some(fresh_database(&server, &name))
}

#[test]
fn three_nodes_one_killed_mid_run_lose_nothing_and_finish_the_run() {
    let Some(db) = database("three nodes one killed") else { return };
    let dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut nodes: Vec<_> = ports.iter().map(|&p| serve(&db, p)).collect();
    let key = tenant(ports[1]);
    let (hook, got) = receiver();
    let record = dir.path().join("acknowledged.jsonl");
    let n = 300;
    let servers = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let run = loadgen_on(&servers, &key, &["scenarios/mmc.toml", "--set", &format!("run.tasks={n}"), "--speedup", "900", "--callback-url", &hook, "--record", record.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(3000));
    // The node that created the project and most tasks dies; its people move to the others.
    let mut first = nodes.remove(0);
    first.kill().unwrap();
    first.wait().unwrap();
    let report = finish(run, Duration::from_secs(600));
    check_run_survived(&format!("http://127.0.0.1:{}", ports[2]), &key, &report, &record, &got, n);
    for node in nodes {
        terminate(node);
    }
}

#[test]
fn the_leases_of_a_dead_node_expire_on_the_others() {
    let Some(db) = database("leases of a dead node") else { return };
    let (a, b) = (free_port(), free_port());
    let (mut node_a, node_b) = (serve(&db, a), serve(&db, b));
    let key = tenant(a);
    let url = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    let (st, p) = http("POST", &url(a, "/v1/projects"), &key, Some(json!({ "name": "p", "settings": SETTINGS, "lease_seconds": 2 })));
    assert_eq!(st, 201, "{p}");
    let project = p["id"].as_i64().unwrap();
    let person = |port: u16, name: &str| {
        let (st, v) = http("POST", &url(port, &format!("/v1/projects/{project}/annotators")), &key, Some(json!({ "external_id": name })));
        assert_eq!(st, 201, "{v}");
        (v["annotator_id"].as_i64().unwrap(), v["token"].as_str().unwrap().to_string())
    };
    let (x, x_token) = person(a, "x");
    let (y, y_token) = person(b, "y");
    let (st, t) = http("POST", &url(a, &format!("/v1/projects/{project}/tasks")), &key, Some(json!({ "payload": { "n": 1 } })));
    assert_eq!(st, 201, "{t}");
    let task = t["task_id"].as_i64().unwrap();
    // x takes the only task through node A; A dies with the lease open.
    let (st, v) = http("POST", &url(a, &format!("/v1/annotators/{x}/next")), &x_token, None);
    assert_eq!((st, v["lease"]["task_id"].as_i64()), (200, Some(task)), "{v}");
    node_a.kill().unwrap();
    node_a.wait().unwrap();
    // Through node B, y gets nothing while the lease runs, then the task once it expired there.
    let (st, v) = http("POST", &url(b, &format!("/v1/annotators/{y}/next")), &y_token, None);
    assert_eq!((st, v["lease"].is_null()), (200, true), "the task is still leased to x: {v}");
    let started = Instant::now();
    let lease = loop {
        let (st, v) = http("POST", &url(b, &format!("/v1/annotators/{y}/next")), &y_token, None);
        assert_eq!(st, 200, "{v}");
        if !v["lease"].is_null() {
            break v["lease"].clone();
        }
        assert!(started.elapsed() < Duration::from_secs(15), "x's lease never expired on node B");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(lease["task_id"].as_i64(), Some(task));
    let (st, v) = http("POST", &url(b, &format!("/v1/annotators/{y}/assignments/{}/submit", lease["assignment_id"])), &y_token, Some(json!({ "label": 1 })));
    assert_eq!(st, 200, "{v}");
    let (_, t) = http("GET", &url(b, &format!("/v1/tasks/{task}")), &key, None);
    assert_eq!(t["label"], 1, "{t}");
    let (_, answers) = http("GET", &url(b, &format!("/v1/tasks/{task}/answers")), &key, None);
    assert_eq!(answers.as_array().map(|a| a.len()), Some(1), "one answer, y's: {answers}");
    terminate(node_b);
}

#[test]
fn postgres_restarted_under_load_gives_503_then_the_nodes_carry_on() {
    if !postgres_available("PostgreSQL restarted under load") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pg = OwnPostgres::start(&dir.path().join("pg"));
    let db = fresh_database(&pg.url, "tessera_restart");
    let ports: Vec<u16> = (0..2).map(|_| free_port()).collect();
    let nodes: Vec<_> = ports.iter().map(|&p| serve(&db, p)).collect();
    let key = tenant(ports[0]);
    let (hook, got) = receiver();
    let record = dir.path().join("acknowledged.jsonl");
    let n = 300;
    let servers = ports.iter().map(|p| format!("http://127.0.0.1:{p}")).collect::<Vec<_>>().join(",");
    let run = loadgen_on(&servers, &key, &["scenarios/mmc.toml", "--set", &format!("run.tasks={n}"), "--speedup", "900", "--callback-url", &hook, "--record", record.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(3000));
    pg.down();
    // During the outage: a clear 503 with Retry-After, quickly; never a hang, never a 500.
    for port in &ports {
        let started = Instant::now();
        let r = ureq::post(&format!("http://127.0.0.1:{port}/v1/projects")).set("authorization", &format!("Bearer {key}")).timeout(Duration::from_secs(30)).send_json(json!({ "name": "q", "settings": SETTINGS }));
        match r {
            Err(ureq::Error::Status(503, r)) => {
                assert!(r.header("retry-after").is_some(), "503 without Retry-After");
                let body: serde_json::Value = serde_json::from_str(&r.into_string().unwrap()).unwrap();
                assert_eq!(body["error"], "unavailable", "{body}");
            }
            other => panic!("during the outage node {port} answered {other:?}"),
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the 503 took {:?}", started.elapsed());
    }
    std::thread::sleep(Duration::from_millis(1500));
    pg.up();
    let report = finish(run, Duration::from_secs(600));
    check_run_survived(&format!("http://127.0.0.1:{}", ports[1]), &key, &report, &record, &got, n);
    for node in nodes {
        terminate(node);
    }
}
