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
use tessera_engine::core::{Effect, LabelFate, Work};
use tessera_live::clock::ManualClock;
use tessera_live::log::Entry;
use tessera_live::project::Settings;

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
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, SETTINGS, 30.0);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut people = Vec::new();
    for i in 0..8 {
        let skills = match i % 3 {
            0 => json!([{ "task_type": "bbox", "accuracy": 0.9, "seconds_per_item": 20 }]),
            1 => json!([{ "task_type": "ner", "accuracy": 0.7, "seconds_per_item": 40 }]),
            _ => json!([]),
        };
        people.push(annotator(&s, &key, p, json!({ "external_id": format!("p{i}"), "skills": skills })));
    }
    for (stream, classes) in [("boxes", 3), ("text", 4)] {
        for c in 0..classes {
            task(&s, &key, p, json!({ "stream": stream, "gold_answer": c, "payload": { "gold": c } }));
        }
    }
    let mut held: BTreeMap<usize, (u64, serde_json::Value)> = BTreeMap::new();
    for step in 0..600 {
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
    s.stop();

    // What the store holds.
    let c = rusqlite::Connection::open(&db).unwrap();
    let rows = |sql: &str| -> Vec<Vec<String>> {
        let mut st = c.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| Ok((0..n).map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}")).unwrap()).collect())).unwrap().map(|r| r.unwrap()).collect()
    };
    let leases = rows("SELECT assignment, annotator, task, kind, state FROM leases ORDER BY assignment");
    let answers = rows("SELECT assignment, annotator, kind, label, fate, late FROM answers ORDER BY id");
    let finals = rows("SELECT id, label, finals FROM tasks WHERE finals > 0 ORDER BY id");
    let (settings_text, lease_us, seed): (String, i64, i64) = c.query_row("SELECT settings, lease_us, seed FROM projects WHERE id = ?1", [p], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).unwrap();
    let annotator_rows: Vec<i64> = c.prepare("SELECT id FROM annotators WHERE project = ?1 ORDER BY core_id").unwrap().query_map([p], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect();
    let log: Vec<(u64, u64, String)> = c.prepare("SELECT seq, at_us, entry FROM log WHERE project = ?1 ORDER BY seq").unwrap().query_map([p], |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64, r.get(2)?))).unwrap().map(|r| r.unwrap()).collect();

    // The core alone, fed the log.
    let settings = Settings::parse(&settings_text, false, lease_us as u64, seed as u64).unwrap();
    let mut core = settings.core();
    let mut assigned: BTreeMap<u64, (i64, &str, Option<u64>)> = BTreeMap::new();
    let mut closed: BTreeMap<u64, &str> = BTreeMap::new();
    let mut labels = Vec::new();
    let mut final_count: BTreeMap<u64, (u16, u32)> = BTreeMap::new();
    for (seq, at, text) in &log {
        let entry: Entry = serde_json::from_str(text).unwrap();
        for e in tessera_live::log::apply(&mut core, &settings, &entry, *seq, tessera_engine::time::SimTime(*at)).unwrap() {
            match *e {
                Effect::Assign { assignment, annotator, work, .. } => {
                    let (kind, task) = match work {
                        Work::Label { task } => ("labelling", Some(task.0)),
                        Work::Review { task, .. } => ("review", Some(task.0)),
                        Work::Gold { .. } => ("gold", None),
                    };
                    assigned.insert(assignment.0, (annotator_rows[annotator as usize], kind, task));
                }
                Effect::LeaseClosed { assignment, how, .. } => {
                    closed.insert(assignment.0, match how {
                        tessera_engine::core::Closed::Answered => "answered",
                        tessera_engine::core::Closed::Expired => "expired",
                        tessera_engine::core::Closed::Returned => "returned",
                        tessera_engine::core::Closed::Skipped => "skipped",
                    });
                }
                Effect::LabelStored { assignment, annotator, label, fate, late, .. } => {
                    let fate = match fate {
                        LabelFate::Counted => "counted",
                        LabelFate::Extra => "extra",
                        LabelFate::Discarded => "discarded",
                    };
                    labels.push(vec![assignment.0.to_string(), annotator_rows[annotator as usize].to_string(), "labelling".into(), label.to_string(), fate.into(), (late as i64).to_string()]);
                }
                Effect::GoldChecked { assignment, annotator, label, right, .. } => {
                    labels.push(vec![assignment.0.to_string(), annotator_rows[annotator as usize].to_string(), "gold".into(), label.to_string(), if right { "right" } else { "wrong" }.into(), "0".into()]);
                }
                Effect::Final { task, label, .. } => {
                    let f = final_count.entry(task.0).or_insert((label, 0));
                    *f = (label, f.1 + 1);
                }
                _ => {}
            }
        }
    }
    assert!(leases.len() > 100 && answers.len() > 50 && finals.len() > 10, "the workload did something: {} leases, {} answers, {} finals", leases.len(), answers.len(), finals.len());
    assert_eq!(leases.len(), assigned.len(), "one lease row per Assign");
    for l in &leases {
        let asg: u64 = l[0].trim_start_matches("Integer(").trim_end_matches(')').parse().unwrap();
        let (annotator, kind, task) = assigned[&asg];
        assert_eq!(l[1], format!("Integer({annotator})"), "lease {asg}: who");
        assert_eq!(l[3], format!("Text({kind:?})"), "lease {asg}: what");
        if let Some(t) = task {
            assert_eq!(l[2], format!("Integer({t})"), "lease {asg}: which task");
        }
        let state = closed.get(&asg).copied().unwrap_or("open");
        assert_eq!(l[4], format!("Text({state:?})"), "lease {asg}: how it ended");
    }
    let stored: Vec<Vec<String>> = answers
        .iter()
        .map(|a| a.iter().map(|v| v.trim_start_matches("Integer(").trim_start_matches("Text(").trim_end_matches(')').trim_matches('"').to_string()).collect())
        .collect();
    assert_eq!(stored, labels, "every answer with the fate the core gave it, in order");
    let replayed: Vec<Vec<String>> = final_count.iter().map(|(t, (l, n))| vec![format!("Integer({t})"), format!("Integer({l})"), format!("Integer({n})")]).collect();
    assert_eq!(finals, replayed, "final labels and how often each task got one");
}
