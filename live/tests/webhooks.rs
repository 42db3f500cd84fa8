//! Webhooks from the durable outbox: a receiver that fails for a while then recovers gets every
//! message, signed Standard-Webhooks style, with every attempt in the delivery log; redelivery
//! on request; a message survives a restart of the server before it is delivered.

mod common;
use common::*;
use serde_json::json;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A webhook receiver answering 500 to its first `fail` requests, then 200; it keeps what it got.
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<(Vec<(String, String)>, String)>>>,
    hits: Arc<AtomicUsize>,
}

fn receiver(fail: usize) -> Receiver {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let hits = Arc::new(AtomicUsize::new(0));
    let (g, h) = (got.clone(), hits.clone());
    std::thread::spawn(move || {
        for stream in l.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut r = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                let t = line.trim_end();
                if t.is_empty() {
                    break;
                }
                let (k, v) = t.split_once(':').unwrap();
                headers.push((k.trim().to_lowercase(), v.trim().to_string()));
            }
            let len: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            let n = h.fetch_add(1, Ordering::SeqCst);
            let status = if n < fail { "500 Internal Server Error" } else { "200 OK" };
            if n >= fail {
                g.lock().unwrap().push((headers, String::from_utf8(body).unwrap()));
            }
            let _ = write!(stream, "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    Receiver { url, got, hits }
}

#[test]
fn a_receiver_that_fails_for_a_while_gets_every_message_signed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start_real(&dir.path().join("live.db"), vec![0.05, 0.05, 0.05, 0.05, 0.05, 0.05]);
    let rx = receiver(3);
    let key = tenant(&s, "acme");
    let (p, secret) = project(&s, &key, ONE_STREAM, 600.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let tasks: Vec<i64> = (0..2).map(|i| task(&s, &key, p, json!({ "unique_id": format!("u{i}"), "callback_url": rx.url }))).collect();
    for _ in &tasks {
        let l = next(&s, a, &ta).unwrap();
        submit(&s, a, &ta, l["assignment_id"].as_u64().unwrap(), json!({ "label": 2 }));
    }
    let got = eventually("both messages delivered", || {
        let g = rx.got.lock().unwrap();
        (g.len() >= 2).then(|| g.clone())
    });
    assert_eq!(rx.hits.load(Ordering::SeqCst), 5, "three failures, then two deliveries");
    for (headers, body) in &got {
        let h = |k: &str| headers.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap();
        let (id, ts) = (h("webhook-id"), h("webhook-timestamp"));
        assert_eq!(h("webhook-signature"), tessera_live::webhooks::sign(&secret, &id, ts.parse().unwrap(), body), "the signature verifies");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["type"], "label.final");
        assert_eq!(v["data"]["label"], 2);
        assert!(tasks.contains(&v["data"]["task_id"].as_i64().unwrap()));
    }
    // The delivery log of the first task shows its failed attempts, then success.
    let log = eventually("the delivery recorded", || {
        let (_, d) = s.call("GET", &format!("/v1/tasks/{}/deliveries", tasks[0]), &key, None);
        (d[0]["state"] == "delivered").then_some(d)
    });
    let attempts = log[0]["attempts"].as_array().unwrap();
    assert!(attempts.len() >= 2 && attempts.last().unwrap()["status"] == 200 && attempts[0]["status"] == 500, "{log}");
    // Redelivery on request.
    let (st, _) = s.call("POST", &format!("/v1/tasks/{}/redeliver", tasks[0]), &key, None);
    assert_eq!(st, 202);
    eventually("the redelivery", || (rx.got.lock().unwrap().len() == 3).then_some(()));
    let (st, _) = s.call("POST", &format!("/v1/tasks/{}/redeliver", task(&s, &key, p, json!({}))), &key, None);
    assert_eq!(st, 409, "a task with no message");
}

#[test]
fn an_undelivered_message_survives_a_restart_and_exhaustion_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    // A receiver that is down: nothing listens on the port.
    let down = { TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap() };
    let s = Server::start_real(&db, vec![0.05, 0.05]);
    let key = tenant(&s, "acme");
    let (p, _) = project(&s, &key, ONE_STREAM, 600.0);
    let (a, ta) = annotator(&s, &key, p, json!({ "external_id": "a" }));
    let t = task(&s, &key, p, json!({ "callback_url": format!("http://{down}/hook") }));
    let l = next(&s, a, &ta).unwrap();
    submit(&s, a, &ta, l["assignment_id"].as_u64().unwrap(), json!({ "label": 0 }));
    let d = eventually("retries to run out", || {
        let (_, d) = s.call("GET", &format!("/v1/tasks/{t}/deliveries"), &key, None);
        (d[0]["state"] == "exhausted").then_some(d)
    });
    assert_eq!(d[0]["attempts"].as_array().unwrap().len(), 3, "one attempt and two retries: {d}");
    // Fix the receiver's address by redelivering after a restart: the message is still there.
    s.stop();
    let rx = receiver(0);
    let s = Server::start_real(&db, vec![0.05]);
    let t2 = task(&s, &key, p, json!({ "callback_url": rx.url }));
    let l = next(&s, a, &ta).unwrap();
    assert_eq!(l["task_id"], t2);
    submit(&s, a, &ta, l["assignment_id"].as_u64().unwrap(), json!({ "label": 1 }));
    eventually("delivery after the restart", || (rx.got.lock().unwrap().len() == 1).then_some(()));
    let (st, _) = s.call("POST", &format!("/v1/tasks/{t}/redeliver"), &key, None);
    assert_eq!(st, 202, "an exhausted message can be sent again");
}
