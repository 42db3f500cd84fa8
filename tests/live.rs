//! `tessera serve` and `tessera loadgen` as processes: a synthetic workforce against the real
//! server agrees with `tessera simulate` of the same scenario; a server killed with SIGKILL in the
//! middle of a run loses no acknowledged answer and no webhook, gives each task one final label,
//! and the run completes; SIGTERM stops it cleanly.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "live-test-admin-key-0123456789";
const EXE: &str = env!("CARGO_BIN_EXE_tessera");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `tessera serve` and waits until it listens.
fn serve(db: &Path, port: u16) -> Child {
    let mut child = Command::new(EXE)
        .args(["serve", "--db"])
        .arg(db)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--webhook-schedule", "100ms,200ms,400ms,800ms,1s,1s,1s,1s", "--workers", "2"])
        .env("TESSERA_ADMIN_KEY", ADMIN)
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on"), "serve said {line:?}");
    child
}

fn http(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
    let req = ureq::request(method, url).set("authorization", &format!("Bearer {token}"));
    let r = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let (st, r) = match r {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(c, r)) => (c, r),
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let text = r.into_string().unwrap();
    (st, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn tenant(port: u16) -> String {
    let (st, v) = http("POST", &format!("http://127.0.0.1:{port}/v1/tenants"), ADMIN, Some(serde_json::json!({ "name": "test" })));
    assert_eq!(st, 201, "{v}");
    v["api_key"].as_str().unwrap().to_string()
}

fn loadgen(port: u16, key: &str, args: &[&str]) -> Child {
    Command::new(EXE)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("loadgen")
        .args(args)
        .args(["--server", &format!("http://127.0.0.1:{port}"), "--format", "json"])
        .env("TESSERA_API_KEY", key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn finish(mut child: Child, limit: Duration) -> Value {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            let mut err = String::new();
            child.stdout.take().unwrap().read_to_string(&mut out).unwrap();
            child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            assert!(status.success(), "loadgen failed: {err}");
            return serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("loadgen ran longer than {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn terminate(mut server: Child) {
    let ok = Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success();
    assert!(ok);
    let started = Instant::now();
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            assert!(status.success(), "SIGTERM ends the server cleanly: {status:?}");
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn loadgen_against_the_server_agrees_with_simulate() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = serve(&dir.path().join("live.db"), port);
    let key = tenant(port);
    // M/M/14 at 200 tasks/h: 400 tasks are about 2 simulated hours, 12 s at speed-up 600.
    let live = finish(loadgen(port, &key, &["scenarios/mmc.toml", "--set", "run.tasks=400", "--speedup", "600", "--seed", "3"]), Duration::from_secs(300));
    terminate(server);
    assert_eq!(live["tasks_final"], 400, "{live}");
    let out = dir.path().join("sim");
    let o = Command::new(EXE)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["simulate", "scenarios/mmc.toml", "--set", "run.tasks=400", "--set", "run.warmup=0s", "--replications", "40", "-q", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let sim: Value = serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    // One live run is one replication: it must lie within the spread of the simulation's
    // replications (mean ± 3 standard deviations of a replication's figure).
    let spread = |f: &dyn Fn(&Value) -> f64| {
        let xs: Vec<f64> = sim["runs"].as_array().unwrap().iter().map(f).collect();
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        let sd = (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt();
        (m, sd)
    };
    let (m, sd) = spread(&|r| r["time_in_system_s"]["mean"].as_f64().unwrap() / 3600.0);
    let got = live["mean_time_in_system_h"].as_f64().unwrap();
    assert!((got - m).abs() <= 3.0 * sd, "mean time in system: live {got:.4} h, simulated {m:.4} ± {sd:.4} h (one replication's sd)");
    let (m, sd) = spread(&|r| r["time_in_system_s"]["p90"].as_f64().unwrap() / 3600.0);
    let got = live["p90_time_in_system_h"].as_f64().unwrap();
    assert!((got - m).abs() <= 3.0 * sd, "p90 time in system: live {got:.4} h, simulated {m:.4} ± {sd:.4} h");
    let (m, sd) = spread(&|r| r["accuracy"].as_f64().unwrap());
    let got = live["accuracy"].as_f64().unwrap();
    assert!((got - m).abs() <= 3.0 * sd, "accuracy: live {got:.4}, simulated {m:.4} ± {sd:.4}");
}

/// A webhook receiver that keeps every body it gets.
fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                if line.trim().is_empty() {
                    break;
                }
                if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            g.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
            let _ = write!(s, "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        }
    });
    (url, got)
}

#[test]
fn a_server_killed_mid_run_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let port = free_port();
    let mut server = serve(&db, port);
    let key = tenant(port);
    let (hook, got) = receiver();
    let record = dir.path().join("acknowledged.jsonl");
    let n = 300;
    // 300 tasks at 200/h are 1.5 simulated hours: at least 6 s of wall clock at speed-up 900.
    let mut run = loadgen(port, &key, &["scenarios/mmc.toml", "--set", &format!("run.tasks={n}"), "--speedup", "900", "--callback-url", &hook, "--record", record.to_str().unwrap()]);
    // Kill -9 twice in the middle of the run, restarting at once each time.
    for _ in 0..2 {
        std::thread::sleep(Duration::from_millis(2500));
        assert!(run.try_wait().unwrap().is_none(), "the run is still going when the server is killed");
        server.kill().unwrap();
        server.wait().unwrap();
        server = serve(&db, port);
    }
    let report = finish(run, Duration::from_secs(600));
    assert_eq!((report["tasks_created"].as_u64(), report["tasks_final"].as_u64()), (Some(n), Some(n)), "the run completes: {report}");
    let base = format!("http://127.0.0.1:{port}");
    let project = report["project_id"].as_i64().unwrap();
    // Every acknowledged answer is stored.
    let acked: Vec<Value> = std::fs::read_to_string(&record).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(acked.len() >= n as usize, "{} answers acknowledged", acked.len());
    let mut stored = std::collections::HashSet::new();
    let mut finals_per_task = std::collections::HashMap::new();
    let (st, trace) = {
        let r = ureq::get(&format!("{base}/v1/projects/{project}/trace")).set("authorization", &format!("Bearer {key}")).call().unwrap();
        (r.status(), r.into_string().unwrap())
    };
    assert_eq!(st, 200);
    for line in trace.lines().skip(1) {
        let e: Value = serde_json::from_str(line).unwrap();
        match e["event"].as_str().unwrap() {
            "label" | "gold" | "review" => {
                stored.insert((e["annotator"].as_str().unwrap().to_string(), e["assignment"].as_u64().unwrap()));
            }
            "final" => *finals_per_task.entry(e["task"].as_u64().unwrap()).or_insert(0) += 1,
            _ => {}
        }
    }
    for a in &acked {
        let asg = a["assignment"].as_u64().unwrap();
        assert!(stored.iter().any(|(_, s)| *s == asg), "acknowledged answer {a} is in the store");
    }
    // One final label per task (mmc has no rule that re-opens).
    assert_eq!(finals_per_task.len(), n as usize);
    assert!(finals_per_task.values().all(|&c| c == 1), "a task got two final events: {:?}", finals_per_task.iter().filter(|(_, &c)| c != 1).collect::<Vec<_>>());
    // No webhook lost: every final label reaches the receiver (at least once; deliveries are at-least-once).
    let started = Instant::now();
    loop {
        let tasks: std::collections::HashSet<i64> = got.lock().unwrap().iter().map(|b| b["data"]["task_id"].as_i64().unwrap()).collect();
        if tasks.len() == n as usize {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{} of {n} webhooks arrived", tasks.len());
        std::thread::sleep(Duration::from_millis(100));
    }
    terminate(server);
}
