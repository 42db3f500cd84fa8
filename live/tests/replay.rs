//! Live and simulation share one core: the server logs every input it feeds a project's core,
//! and replaying that log through a fresh core alone (no server, no store) gives the effects the
//! server acted on, routing included. Checked on a random workload (skill-greedy routing,
//! overlap 3, golden tasks and a ban rule; answers, returns, skips and expiries in random order)
//! against what the store holds: every lease, every answer with its fate, every final label.

mod common;
use common::*;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;
use tessera_live::clock::ManualClock;

const SETTINGS: &str = r#"
[[streams]]
name = "boxes"
task_type = "bbox"
classes = 3
[[streams]]
name = "text"
task_type = "ner"
classes = 4
[quality]
overlap = 3
gold = { rate = 0.1 }
[[quality.rules]]
metric = "gold_accuracy"
window = 4
min_answers = 4
below = 0.3
action = "ban"
duration = "1h"
[routing]
policy = "skill-greedy"
"#;

#[test]
fn replaying_the_log_through_the_core_alone_gives_what_the_server_did() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let clock = Arc::new(ManualClock::new(T0));
    let s = Server::start(&db, clock.clone());
    let p = workload(&[s], &clock);
    assert_log_replays(&store_for(&db), p);
}

/// Three nodes on one PostgreSQL database, every request to a node picked at random: the log
/// they wrote together replays through one core to exactly what they did.
#[test]
fn three_nodes_on_one_database_write_one_log_that_replays_to_what_they_did() {
    if !postgres_available("three nodes on one database") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cluster.db");
    let clock = Arc::new(ManualClock::new(T0));
    let url = pg_store(&db);
    let nodes: Vec<Server> = (0..3).map(|_| Server::start_url(&url, clock.clone())).collect();
    let p = workload(&nodes, &clock);
    drop(nodes);
    assert_log_replays(&url, p);
}

/// A random workload over `nodes` (each request to one picked at random); returns the project.
fn workload(nodes: &[Server], clock: &ManualClock) -> i64 {
    let mut pick = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let mut node = move || &nodes[pick.random_range(0..nodes.len())];
    let s = node();
    let key = tenant(s, "acme");
    let (p, _) = project(&s, &key, SETTINGS, 30.0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut people = Vec::new();
    for i in 0..8 {
        let skills = match i % 3 {
            0 => json!([{ "task_type": "bbox", "accuracy": 0.9, "seconds_per_item": 20 }]),
            1 => json!([{ "task_type": "ner", "accuracy": 0.7, "seconds_per_item": 40 }]),
            _ => json!([]),
        };
        people.push(annotator(node(), &key, p, json!({ "external_id": format!("p{i}"), "skills": skills })));
    }
    for (stream, classes) in [("boxes", 3), ("text", 4)] {
        for c in 0..classes {
            task(node(), &key, p, json!({ "stream": stream, "gold_answer": c, "payload": { "gold": c } }));
        }
    }
    let mut held: BTreeMap<usize, (u64, serde_json::Value)> = BTreeMap::new();
    for step in 0..600 {
        let s = node();
        if step % 7 == 0 {
            let stream = if rng.random_bool(0.5) { "boxes" } else { "text" };
            task(&s, &key, p, json!({ "stream": stream, "priority": rng.random_range(0..3) }));
        }
        let i = rng.random_range(0..people.len());
        let (id, tok) = &people[i];
        match held.remove(&i) {
            None => {
                if let Some(l) = next(&s, *id, tok) {
                    held.insert(i, (l["assignment_id"].as_u64().unwrap(), l));
                }
            }
            Some((asg, l)) => {
                let path = |what: &str| format!("/v1/annotators/{id}/assignments/{asg}/{what}");
                match rng.random_range(0..10) {
                    0 => drop(s.call("POST", &path("return"), tok, None)),
                    1 => drop(s.call("POST", &path("skip"), tok, None)),
                    2 => {
                        // Walks away: the lease runs out (the next request finds it expired).
                        clock.advance(31_000_000);
                    }
                    _ => {
                        let classes = if l["stream"] == "boxes" { 3 } else { 4 };
                        let label = if l["kind"] == "gold" && i % 4 != 3 { l["payload"]["gold"].as_u64().unwrap() } else { rng.random_range(0..classes) };
                        let (st, v) = submit(&s, *id, tok, asg, json!({ "label": label }));
                        assert!(st == 200 || st == 404 || st == 409, "{v}");
                    }
                }
            }
        }
        clock.advance(rng.random_range(0..5_000_000));
    }
    p
}
