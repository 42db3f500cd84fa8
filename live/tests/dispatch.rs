//! The live server's dispatch rules, end to end over HTTP against a real SQLite file: leases and
//! their active expiry, late work, skip and return, heartbeats, dependencies, golden tasks with
//! bans and re-opens, idempotent create and submit under retries, and restarts.

mod common;
use common::*;
use serde_json::json;
use std::sync::Arc;
use tessera_live::clock::ManualClock;

fn fresh() -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("live.db"), Arc::new(ManualClock::new(T0)));
    (dir, s)
}

#[test]
fn a_lease_expires_on_its_own_and_late_work_follows_the_core_rule() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, ONE_STREAM, 60.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let (b, tb) = annotator(&s, &key, p, json!({ "external_id": "b" }));
    let t1 = task(&s, &key, p, json!({ "payload": { "n": 1 } }));
    let la = next(&s, a, &ta).expect("a gets the task");
    assert_eq!(la["task_id"], t1);
    assert_eq!(la["lease_epoch"], 0);
    assert!(next(&s, b, &tb).is_none(), "overlap 1: one slot, leased");
    // Past the lease: the writer's timer expires it without any request touching the task.
    s.advance(61_000_000);
    eventually("the lease to expire", || {
        let (_, answers) = s.call("GET", "/metrics", "", None);
        answers.as_str().is_some_and(|m| m.contains(&format!("tessera_open_leases{{project=\"{p}\"}} 0"))).then_some(())
    });
    let lb = next(&s, b, &tb).expect("the slot went back to the queue");
    assert_eq!(lb["task_id"], t1);
    assert_eq!(lb["lease_epoch"], 1);
    // a's late answer: its slot was leased again, so it is kept as an extra label.
    let (st, v) = submit(&s, a, &ta, la["assignment_id"].as_u64().unwrap(), json!({ "label": 2 }));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["outcome"], "extra");
    assert_eq!(v["late"], true);
    let (st, v) = submit(&s, b, &tb, lb["assignment_id"].as_u64().unwrap(), json!({ "label": 1 }));
    assert_eq!((st, v["outcome"].as_str(), v["task_status"].as_str()), (200, Some("counted"), Some("final")));
    let t = get_task(&s, &key, t1);
    assert_eq!(t["label"], 1);
    // The posterior over the 3 classes, from the counted label and its labeller's trust.
    let post: Vec<f64> = t["posteriors"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(post.len(), 3, "{t}");
    assert!((post.iter().sum::<f64>() - 1.0).abs() < 1e-5 && post[1] > post[0] && post[1] > post[2], "{t}");
    // Majority vote's confidence is the share of votes; the posterior weighs the vote by trust.
    assert_eq!(t["confidence"], 1.0);

    // A late answer whose slot was not leased again counts.
    let t2 = task(&s, &key, p, json!({}));
    let l = next(&s, a, &ta).expect("a gets t2");
    assert_eq!(l["task_id"], t2);
    s.advance(61_000_000);
    eventually("t2's lease to expire", || {
        let (_, m) = s.call("GET", "/metrics", "", None);
        m.as_str().is_some_and(|m| m.contains(&format!("tessera_open_leases{{project=\"{p}\"}} 0"))).then_some(())
    });
    let (_, v) = submit(&s, a, &ta, l["assignment_id"].as_u64().unwrap(), json!({ "label": 0 }));
    assert_eq!((v["outcome"].as_str(), v["late"].as_bool()), (Some("counted"), Some(true)), "{v}");
    let answers = s.call("GET", &format!("/v1/tasks/{t1}/answers"), &key, None).1;
    assert_eq!(answers.as_array().unwrap().len(), 2, "both answers on t1 are stored: {answers}");
}

#[test]
fn heartbeat_keeps_a_lease_and_skip_and_return_give_it_back() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, ONE_STREAM, 60.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let (b, tb) = annotator(&s, &key, p, json!({ "external_id": "b" }));
    let t = task(&s, &key, p, json!({}));
    let l = next(&s, a, &ta).unwrap();
    let asg = l["assignment_id"].as_u64().unwrap();
    // Asking again while holding it returns the same lease.
    assert_eq!(next(&s, a, &ta).unwrap()["assignment_id"], asg);
    s.advance(50_000_000);
    let (st, hb) = s.call("POST", &format!("/v1/annotators/{a}/assignments/{asg}/heartbeat"), &ta, None);
    assert_eq!(st, 200, "{hb}");
    assert!(hb["expires_at_us"].as_u64().unwrap() > l["expires_at_us"].as_u64().unwrap());
    s.advance(20_000_000); // past the first expiry, before the extended one
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert!(next(&s, b, &tb).is_none(), "the heartbeat kept the lease");
    // Return: b gets it.
    let (st, v) = s.call("POST", &format!("/v1/annotators/{a}/assignments/{asg}/return"), &ta, None);
    assert_eq!((st, v["outcome"].as_str()), (200, Some("returned")));
    let lb = next(&s, b, &tb).expect("returned work goes to b");
    assert_eq!(lb["task_id"], t);
    // b skips: a may take it again, b is never offered it.
    let asg_b = lb["assignment_id"].as_u64().unwrap();
    let (st, _) = s.call("POST", &format!("/v1/annotators/{b}/assignments/{asg_b}/skip"), &tb, None);
    assert_eq!(st, 200);
    assert!(next(&s, b, &tb).is_none(), "b skipped it");
    assert_eq!(next(&s, a, &ta).unwrap()["task_id"], t);
    // Giving back what is not open is a conflict; someone else's assignment is not found.
    let (st, _) = s.call("POST", &format!("/v1/annotators/{b}/assignments/{asg_b}/return"), &tb, None);
    assert_eq!(st, 409);
    let (st, _) = s.call("POST", &format!("/v1/annotators/{a}/assignments/{asg}/return"), &tb, None);
    assert_eq!(st, 404, "b's token cannot act for a");
}

#[test]
fn a_task_with_parts_starts_when_its_parts_are_final() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let settings = "[[streams]]\nname = \"sequence\"\ntask_type = \"track\"\nclasses = 2\nparts = { stream = \"frame\", count = 2 }\n[[streams]]\nname = \"frame\"\ntask_type = \"box\"\nclasses = 2\n[quality]\noverlap = 1\n";
    let (p, _) = project(&s, &key, settings, 600.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let parent = task(&s, &key, p, json!({ "stream": "sequence", "parts": 2 }));
    assert_eq!(get_task(&s, &key, parent)["status"], "waiting");
    let f1 = task(&s, &key, p, json!({ "stream": "frame", "part_of": parent }));
    let f2 = task(&s, &key, p, json!({ "stream": "frame", "part_of": parent }));
    // A third part is refused and nothing is logged.
    let (st, v) = s.call("POST", &format!("/v1/projects/{p}/tasks"), &key, Some(json!({ "stream": "frame", "part_of": f1 })));
    assert_eq!(st, 422, "{v}");
    for expect in [f1, f2] {
        let l = next(&s, a, &ta).expect("a frame");
        assert_eq!(l["task_id"], expect, "the parts come first");
        submit(&s, a, &ta, l["assignment_id"].as_u64().unwrap(), json!({ "label": 1 }));
    }
    let l = next(&s, a, &ta).expect("the sequence, once its frames are final");
    assert_eq!(l["task_id"], parent);
}

#[test]
fn create_and_submit_are_idempotent_under_retries() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, ONE_STREAM, 600.0);
    let body = r#"{"payload":{"x":1},"unique_id":"img-1"}"#;
    let path = format!("/v1/projects/{p}/tasks");
    let (st1, v1) = s.raw("POST", &path, &key, body, &[("Idempotency-Key", "k1")]);
    let (st2, v2) = s.raw("POST", &path, &key, body, &[("Idempotency-Key", "k1")]);
    assert_eq!((st1, st2), (201, 201));
    assert_eq!(v1, v2, "a retry gets the stored answer");
    let (st, v) = s.raw("POST", &path, &key, r#"{"payload":{"x":2}}"#, &[("Idempotency-Key", "k1")]);
    assert_eq!(st, 422, "same key, other body: {v}");
    // Without the key, the unique id catches the duplicate and names the first task.
    let (st, v) = s.raw("POST", &path, &key, body, &[]);
    assert_eq!(st, 409);
    assert_eq!(v["existing_id"], v1["task_id"].to_string());
    // Bulk: created, duplicate and refused items side by side.
    let (st, v) = s.call("POST", &format!("/v1/projects/{p}/tasks/bulk"), &key, Some(json!({ "tasks": [ { "unique_id": "img-2" }, { "unique_id": "img-1" }, { "stream": "nope" } ] })));
    assert_eq!(st, 200, "{v}");
    let items = v["items"].as_array().unwrap();
    assert_eq!(items.iter().map(|i| i["status"].as_u64().unwrap()).collect::<Vec<_>>(), vec![201, 409, 422]);
    assert_eq!(items[1]["task_id"], v1["task_id"]);

    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let l = next(&s, a, &ta).unwrap();
    let asg = l["assignment_id"].as_u64().unwrap();
    let first = submit(&s, a, &ta, asg, json!({ "label": 2 }));
    let again = submit(&s, a, &ta, asg, json!({ "label": 2 }));
    assert_eq!(first, again, "a retried submission gets the same answer");
    let (st, _) = submit(&s, a, &ta, asg, json!({ "label": 0 }));
    assert_eq!(st, 409, "a different answer to an answered assignment");
    let answers = s.call("GET", &format!("/v1/tasks/{}/answers", l["task_id"]), &key, None).1;
    assert_eq!(answers.as_array().unwrap().len(), 1, "one answer stored: {answers}");
}

#[test]
fn a_banned_annotator_is_cut_off_and_their_final_labels_reopen() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let settings = "[[streams]]\nname = \"img\"\ntask_type = \"bbox\"\nclasses = 2\n[quality]\noverlap = 1\ngold = { rate = 0.5 }\nreopen_within = \"1d\"\n[[quality.rules]]\nmetric = \"gold_accuracy\"\nwindow = 3\nmin_answers = 3\nbelow = 0.5\naction = \"ban\"\nreopen = true\n";
    let (p, _) = project(&s, &key, settings, 600.0);
    let (bad, tbad) = annotator(&s, &key, p, json!({ "external_id": "bad" }));
    let (good, tgood) = annotator(&s, &key, p, json!({ "external_id": "good" }));
    for answer in [0, 1] {
        task(&s, &key, p, json!({ "gold_answer": answer, "payload": { "gold": answer } }));
    }
    let tasks: Vec<i64> = (0..20).map(|i| task(&s, &key, p, json!({ "payload": { "i": i }, "callback_url": "http://127.0.0.1:9/hook" }))).collect();
    // "bad" answers every golden item wrong and labels real tasks until banned.
    let mut finals_by_bad = Vec::new();
    let mut banned = false;
    for _ in 0..40 {
        let Some(l) = next(&s, bad, &tbad) else {
            banned = true;
            break;
        };
        let asg = l["assignment_id"].as_u64().unwrap();
        let (_, v) = if l["kind"] == "gold" {
            let known = l["payload"]["gold"].as_u64().unwrap();
            submit(&s, bad, &tbad, asg, json!({ "label": 1 - known }))
        } else {
            let r = submit(&s, bad, &tbad, asg, json!({ "label": 1 }));
            if r.1["task_status"] == "final" {
                finals_by_bad.push(l["task_id"].as_i64().unwrap());
            }
            r
        };
        assert!(v["outcome"].is_string(), "{v}");
    }
    assert!(banned, "three wrong golden answers ban");
    assert!(!finals_by_bad.is_empty(), "bad finished some tasks before the ban");
    // Their final labels were re-opened: the tasks go back to work, for someone else.
    let reopened = finals_by_bad[0];
    assert_ne!(get_task(&s, &key, reopened)["status"], "final");
    let mut seen = false;
    for _ in 0..80 {
        let Some(l) = next(&s, good, &tgood) else { break };
        let asg = l["assignment_id"].as_u64().unwrap();
        let label = if l["kind"] == "gold" { l["payload"]["gold"].as_u64().unwrap() } else { 0 };
        seen |= l["task_id"] == reopened;
        submit(&s, good, &tgood, asg, json!({ "label": label }));
    }
    assert!(seen, "the re-opened task was labelled again");
    let t = get_task(&s, &key, reopened);
    assert_eq!((t["label"].as_u64(), t["finals"].as_u64()), (Some(0), Some(2)), "{t}");
    let d = s.call("GET", &format!("/v1/tasks/{reopened}/deliveries"), &key, None).1;
    let types: Vec<&str> = d.as_array().unwrap().iter().map(|m| m["event_type"].as_str().unwrap()).collect();
    assert_eq!(types, vec!["label.final", "label.updated"], "the change of a final label is a webhook of its own");
    assert!(tasks.len() == 20);
}

#[test]
fn a_restarted_server_rebuilds_its_state_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let clock = Arc::new(ManualClock::new(T0));
    let s = Server::start(&db, clock.clone());
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, &one_stream(2), 60.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let (b, tb) = annotator(&s, &key, p, json!({ "external_id": "b" }));
    let (c, tc) = annotator(&s, &key, p, json!({ "external_id": "c" }));
    let t1 = task(&s, &key, p, json!({}));
    let t2 = task(&s, &key, p, json!({}));
    let la = next(&s, a, &ta).unwrap();
    submit(&s, a, &ta, la["assignment_id"].as_u64().unwrap(), json!({ "label": 1 }));
    let la2 = next(&s, a, &ta).unwrap();
    assert_eq!(la2["task_id"], t2);
    s.stop();
    let s = Server::start(&db, clock.clone());
    // Keys, the open lease and the queue survived.
    let (st, v) = submit(&s, a, &ta, la2["assignment_id"].as_u64().unwrap(), json!({ "label": 0 }));
    assert_eq!((st, v["outcome"].as_str()), (200, Some("counted")), "{v}");
    let lb = next(&s, b, &tb).unwrap();
    assert_eq!(lb["task_id"], t1);
    let (_, v) = submit(&s, b, &tb, lb["assignment_id"].as_u64().unwrap(), json!({ "label": 1 }));
    assert_eq!(v["task_status"], "final");
    // The lease expiry timer is rebuilt too.
    let lb2 = next(&s, b, &tb).unwrap();
    s.stop();
    let s = Server::start(&db, clock.clone());
    clock.advance(61_000_000);
    eventually("the rebuilt timer to expire b's lease", || {
        let l = next(&s, c, &tc)?;
        (l["task_id"] == lb2["task_id"]).then_some(())
    });
}

#[test]
fn a_task_goes_only_to_whom_it_is_reserved_for_and_never_to_whom_it_is_unavailable() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, ONE_STREAM, 600.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let (b, tb) = annotator(&s, &key, p, json!({ "external_id": "b" }));
    let reserved = task(&s, &key, p, json!({ "reserved_for": [b] }));
    assert!(next(&s, a, &ta).is_none(), "reserved for b");
    let lb = next(&s, b, &tb).unwrap();
    assert_eq!(lb["task_id"], reserved);
    submit(&s, b, &tb, lb["assignment_id"].as_u64().unwrap(), json!({ "label": 0 }));
    let not_a = task(&s, &key, p, json!({ "unavailable_for": [a] }));
    assert!(next(&s, a, &ta).is_none(), "unavailable for a");
    let (st, v) = s.call("POST", &format!("/v1/projects/{p}/tasks"), &key, Some(json!({ "reserved_for": [999] })));
    assert_eq!((st, v["field"].as_str()), (422, Some("reserved_for[0]")), "{v}");
    assert!(next(&s, b, &tb).is_some_and(|l| l["task_id"] == not_a), "b may take it");
}

#[test]
fn a_large_bulk_is_written_in_chunks_and_a_retry_returns_every_chunk() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, ONE_STREAM, 600.0);
    let mut tasks: Vec<serde_json::Value> = (0..600).map(|i| json!({ "unique_id": format!("u{i}") })).collect();
    tasks[510] = json!({ "stream": "nope" });
    let body = json!({ "tasks": tasks }).to_string();
    let path = format!("/v1/projects/{p}/tasks/bulk");
    let (st, first) = s.raw("POST", &path, &key, &body, &[("Idempotency-Key", "import-1")]);
    assert_eq!(st, 200, "{first}");
    let items = first["items"].as_array().unwrap();
    assert_eq!(items.len(), 600);
    assert_eq!(items[510]["status"], 422);
    assert!(items[510]["error"].as_str().unwrap().contains("nope"), "{}", items[510]);
    assert_eq!(items.iter().filter(|i| i["status"] == 201).count(), 599);
    let (st, again) = s.raw("POST", &path, &key, &body, &[("Idempotency-Key", "import-1")]);
    assert_eq!((st, &again), (200, &first), "the retry returns every chunk's stored answer");
    let (_, page) = s.call("GET", &format!("/v1/projects/{p}/tasks?limit=1000"), &key, None);
    assert_eq!(page["tasks"].as_array().unwrap().len(), 599, "nothing was created twice");
}

#[test]
fn a_task_with_its_own_priority_jumps_the_queue_under_fixed_priority() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, &format!("{ONE_STREAM}[routing]\npolicy = \"fixed-priority\"\n"), 600.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let _low = task(&s, &key, p, json!({}));
    let high = task(&s, &key, p, json!({ "priority": 9 }));
    assert_eq!(next(&s, a, &ta).unwrap()["task_id"], high, "the task's own priority, not its stream's, decides");
}

#[test]
fn a_final_label_reports_the_posterior_over_its_own_streams_classes() {
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let settings = "[[streams]]\nname = \"a\"\ntask_type = \"x\"\nclasses = 2\n[[streams]]\nname = \"b\"\ntask_type = \"y\"\nclasses = 5\n[quality]\noverlap = 1\n";
    let (p, _) = project(&s, &key, settings, 600.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let t = task(&s, &key, p, json!({ "stream": "b" }));
    let l = next(&s, a, &ta).unwrap();
    let (_, v) = submit(&s, a, &ta, l["assignment_id"].as_u64().unwrap(), json!({ "label": 4 }));
    assert_eq!(v["task_status"], "final");
    let got = get_task(&s, &key, t);
    assert_eq!(got["posteriors"].as_array().unwrap().len(), 5, "{got}");
    assert_eq!(got["votes"].as_array().unwrap().len(), 5, "{got}");
}

#[test]
fn a_judge_who_always_picks_the_left_answer_is_banned_by_a_position_bias_rule() {
    // Preference pairs are shown in a randomised order (`swapped` in the lease); a position-bias
    // rule reads which side each answer picked, in the same core as the simulation's.
    let (_dir, s) = fresh();
    let key = tenant(&s, "acme");
    let settings = "[[streams]]\nname = \"pairs\"\ntask_type = \"preference-pair\"\nmodality = \"preference_pair\"\nclasses = 2\n[quality]\noverlap = 1\n[[quality.rules]]\nmetric = \"position_bias\"\nwindow = 30\nmin_answers = 30\nabove = 0.5\naction = \"ban\"\n";
    let (p, _) = project(&s, &key, settings, 600.0);
    let (lefty, tl) = annotator(&s, &key, p, json!({ "external_id": "lefty" }));
    let (fair, tf) = annotator(&s, &key, p, json!({ "external_id": "fair" }));
    for i in 0..120 {
        task(&s, &key, p, json!({ "payload": { "i": i } }));
    }
    let (mut swapped, mut answered) = (0, 0);
    let mut banned = false;
    for _ in 0..60 {
        let Some(l) = next(&s, lefty, &tl) else {
            banned = true;
            break;
        };
        let shown_swapped = l["swapped"].as_bool().expect("a preference pair's lease says how it is shown");
        swapped += shown_swapped as u32;
        answered += 1;
        // picks the answer shown on the left: label 1 when swapped, else label 0
        submit(&s, lefty, &tl, l["assignment_id"].as_u64().unwrap(), json!({ "label": shown_swapped as u16 }));
    }
    assert!(banned && answered == 30, "banned after its 30th answer ({answered} answered)");
    assert!((5..=25).contains(&swapped), "the order is randomised: {swapped} of 30 swapped");
    // A judge who answers by content (here: always label 0, whichever side it is on) picks left
    // and right about equally often and keeps working.
    for _ in 0..40 {
        let l = next(&s, fair, &tf).expect("the fair judge is not banned");
        submit(&s, fair, &tf, l["assignment_id"].as_u64().unwrap(), json!({ "label": 0 }));
    }
}
