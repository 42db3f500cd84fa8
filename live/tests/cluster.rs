//! Several `serve` nodes on one PostgreSQL database, many people at once: no slot goes to two
//! people, every task completes, and the log they wrote together replays through one core to
//! what they did. (Killing nodes and the database under load: `tests/cluster.rs` at the root,
//! with real processes.)

mod common;
use common::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_live::clock::ManualClock;

#[test]
fn many_people_on_three_nodes_never_share_a_slot_and_every_task_completes() {
    if !postgres_available("many people on three nodes") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = pg_store(&dir.path().join("stress"));
    let clock = Arc::new(ManualClock::new(T0));
    let nodes: Vec<Server> = (0..3).map(|_| Server::start_url(&url, clock.clone())).collect();
    let key = tenant(&nodes[0], "acme");
    let (p, _) = project(&nodes[1], &key, &one_stream(3), 600.0);
    let people: Vec<(i64, String)> = (0..24).map(|i| annotator(&nodes[i % 3], &key, p, json!({ "external_id": format!("p{i}") }))).collect();
    let tasks = 300;
    let (st, v) = nodes[2].call("POST", &format!("/v1/projects/{p}/tasks/bulk"), &key, Some(json!({ "tasks": (0..tasks).map(|i| json!({ "payload": { "i": i } })).collect::<Vec<_>>() })));
    assert_eq!(st, 200, "{v}");

    // (assignment, person, task) as each person saw it.
    let seen: Arc<Mutex<Vec<(u64, i64, i64)>>> = Arc::default();
    let threads: Vec<_> = people
        .iter()
        .enumerate()
        .map(|(i, (id, tok))| {
            let (base, id, tok, seen) = (nodes[i % 3].base.clone(), *id, tok.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut idle = 0;
                while idle < 25 {
                    let (st, v) = call(&format!("{base}/v1/annotators/{id}/next"), "POST", &tok, None, &[]);
                    assert_eq!(st, 200, "{v}");
                    let Some(l) = v.get("lease").filter(|l| !l.is_null()) else {
                        idle += 1;
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    idle = 0;
                    let asg = l["assignment_id"].as_u64().unwrap();
                    seen.lock().unwrap().push((asg, id, l["task_id"].as_i64().unwrap()));
                    let (st, v) = call(&format!("{base}/v1/annotators/{id}/assignments/{asg}/submit"), "POST", &tok, Some(json!({ "label": (id + asg as i64) % 3 }).to_string()), &[]);
                    assert_eq!(st, 200, "{v}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a person's thread");
    }
    let seen = seen.lock().unwrap();
    let mut holder: HashMap<u64, i64> = HashMap::new();
    let mut by_task: BTreeMap<i64, BTreeSet<i64>> = BTreeMap::new();
    for &(asg, who, task) in seen.iter() {
        assert!(holder.insert(asg, who).is_none(), "assignment {asg} was handed out twice");
        assert!(by_task.entry(task).or_default().insert(who), "task {task} went to person {who} twice");
    }
    assert_eq!(by_task.len(), tasks, "every task was handed out");
    assert!(by_task.values().all(|w| w.len() == 3), "every task went to exactly three people (overlap 3)");
    // Work was spread over the nodes: each node's people labelled.
    for n in 0..3 {
        let mine: BTreeSet<i64> = people.iter().enumerate().filter(|(i, _)| i % 3 == n).map(|(_, (id, _))| *id).collect();
        assert!(seen.iter().filter(|(_, w, _)| mine.contains(w)).count() > 30, "node {n} dispatched work");
    }
    drop(nodes);
    let open = rows(&url, &format!("SELECT count(*) FROM tasks WHERE project = {p} AND status NOT IN ('final', 'settled')"));
    assert_eq!(open[0][0], "0", "every task is final");
    let counted = rows(&url, &format!("SELECT count(*) FROM answers WHERE project = {p} AND fate = 'counted'"));
    assert_eq!(counted[0][0], (3 * tasks).to_string(), "three counted labels per task");
    assert_log_replays(&url, p);
}

/// The schema is made from an empty database by the migrations, once, even when several nodes
/// start at the same moment; a second start changes nothing.
#[test]
fn migrations_build_an_empty_database_once_when_nodes_start_together() {
    if !postgres_available("migrations from an empty database") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = pg_store(&dir.path().join("migrations"));
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                tessera_live::store::postgres::migrate(&mut c).expect("migrate");
            })
        })
        .collect();
    for s in starts {
        s.join().expect("a node's start");
    }
    let versions = rows(&url, "SELECT version, name FROM refinery_schema_history ORDER BY version");
    assert_eq!(versions, vec![vec!["1".to_string(), "schema".to_string()], vec!["2".to_string(), "label_events".to_string()]], "each migration applied once");
    let tables = rows(&url, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN ('log', 'leases', 'tasks', 'outbox', 'label_events', 'idempotency')");
    assert_eq!(tables[0][0], "6");
    // A server starts on it and works.
    let clock = Arc::new(ManualClock::new(T0));
    let s = Server::start_url(&url, clock);
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, &one_stream(1), 60.0);
    task(&s, &key, p, json!({ "payload": {} }));
}
