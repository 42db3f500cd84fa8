//! What the process-level live tests share: `tessera serve` and `tessera loadgen` as child
//! processes, an HTTP client, a webhook receiver, and the checks a run that lost a server must
//! pass.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const ADMIN: &str = "live-test-admin-key-0123456789";
pub const EXE: &str = env!("CARGO_BIN_EXE_tessera");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `tessera serve` on `db` (a SQLite file or a PostgreSQL URL) and waits until it listens.
pub fn serve(db: &str, port: u16) -> Child {
    serve_with(db, port, &[])
}

/// `serve` with more arguments (`--queue nats://...`).
pub fn serve_with(db: &str, port: u16, extra: &[&str]) -> Child {
    let mut child = Command::new(EXE)
        .args(["serve", "--db"])
        .arg(db)
        .args(["--listen", &format!("127.0.0.1:{port}"), "--webhook-schedule", "100ms,200ms,400ms,800ms,1s,1s,1s,1s", "--workers", "2"])
        .args(extra)
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

pub fn http(method: &str, url: &str, token: &str, body: Option<Value>) -> (u16, Value) {
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

pub fn tenant(port: u16) -> String {
    let (st, v) = http("POST", &format!("http://127.0.0.1:{port}/v1/tenants"), ADMIN, Some(serde_json::json!({ "name": "test" })));
    assert_eq!(st, 201, "{v}");
    v["api_key"].as_str().unwrap().to_string()
}

pub fn loadgen(port: u16, key: &str, args: &[&str]) -> Child {
    loadgen_on(&format!("http://127.0.0.1:{port}"), key, args)
}

/// loadgen against `servers` (comma-separated base URLs).
pub fn loadgen_on(servers: &str, key: &str, args: &[&str]) -> Child {
    Command::new(EXE)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("loadgen")
        .args(args)
        .args(["--server", servers, "--format", "json"])
        .env("TESSERA_API_KEY", key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn finish(mut child: Child, limit: Duration) -> Value {
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

pub fn terminate(mut server: Child) {
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

/// A webhook receiver that keeps every body it gets.
pub fn receiver() -> (String, Arc<Mutex<Vec<Value>>>) {
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

/// What a loadgen run through server crashes must show: it completed, every answer it was
/// told was stored is in the store, each task got one final label, and every final label
/// reached the webhook receiver. `base` is a server still up.
pub fn check_run_survived(base: &str, key: &str, report: &Value, record: &Path, got: &Arc<Mutex<Vec<Value>>>, n: u64) {
    assert_eq!((report["tasks_created"].as_u64(), report["tasks_final"].as_u64()), (Some(n), Some(n)), "the run completes: {report}");
    let project = report["project_id"].as_i64().unwrap();
    // Every acknowledged answer is stored.
    let acked: Vec<Value> = std::fs::read_to_string(record).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
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
}

/// Whether a PostgreSQL server is there to test against (`TESSERA_TEST_PG`). Without one the
/// test says loudly that it skips, unless `TESSERA_REQUIRE_SERVICES=1` (CI), where it fails.
pub fn postgres_available(test: &str) -> bool {
    if std::env::var("TESSERA_TEST_PG").is_ok() {
        return true;
    }
    assert!(std::env::var("TESSERA_REQUIRE_SERVICES").as_deref() != Ok("1"), "{test}: TESSERA_TEST_PG is not set and TESSERA_REQUIRE_SERVICES=1 (scripts/services.sh starts PostgreSQL)");
    eprintln!("SKIPPED {test}: no PostgreSQL (set TESSERA_TEST_PG; scripts/services.sh start DIR starts one)");
    false
}

/// A new empty database on the server at `server`; returns its URL.
pub fn fresh_database(server: &str, name: &str) -> String {
    tessera_live::store::postgres::create_database(server, name, true).expect("a test database")
}

/// A PostgreSQL server of the test's own (so that it may stop and restart it), started with
/// scripts/services.sh on a free port in `dir`.
pub struct OwnPostgres {
    pub dir: std::path::PathBuf,
    pub port: u16,
    pub url: String,
}

impl OwnPostgres {
    pub fn start(dir: &Path) -> OwnPostgres {
        let port = free_port();
        let p = OwnPostgres { dir: dir.to_path_buf(), port, url: format!("postgres://postgres@127.0.0.1:{port}/postgres") };
        p.up();
        p
    }
    pub fn up(&self) {
        let o = Command::new("bash").current_dir(env!("CARGO_MANIFEST_DIR")).args(["scripts/services.sh", "start"]).arg(&self.dir).arg("pg").env("TESSERA_PG_PORT", self.port.to_string()).output().unwrap();
        assert!(o.status.success(), "starting PostgreSQL: {}", String::from_utf8_lossy(&o.stderr));
    }
    pub fn down(&self) {
        let o = Command::new("bash").current_dir(env!("CARGO_MANIFEST_DIR")).args(["scripts/services.sh", "stop"]).arg(&self.dir).arg("pg").output().unwrap();
        assert!(o.status.success(), "stopping PostgreSQL: {}", String::from_utf8_lossy(&o.stderr));
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let _ = Command::new("bash").current_dir(env!("CARGO_MANIFEST_DIR")).args(["scripts/services.sh", "stop"]).arg(&self.dir).arg("pg").output();
    }
}

/// A nats-server with JetStream of the test's own (so that it may kill and restart it), on a
/// free port, its store in `dir`. Needs `nats-server` on PATH: without it the test skips loudly,
/// unless `TESSERA_REQUIRE_SERVICES=1` (CI), where it fails.
pub struct OwnNats {
    pub dir: std::path::PathBuf,
    pub port: u16,
    pub url: String,
    child: Option<Child>,
}

impl OwnNats {
    pub fn start(test: &str, dir: &Path) -> Option<OwnNats> {
        if Command::new("nats-server").arg("--version").output().is_err() {
            assert!(std::env::var("TESSERA_REQUIRE_SERVICES").as_deref() != Ok("1"), "{test}: nats-server is not on PATH and TESSERA_REQUIRE_SERVICES=1");
            eprintln!("SKIPPED {test}: no nats-server on PATH (apt-get install nats-server)");
            return None;
        }
        let port = free_port();
        let mut n = OwnNats { dir: dir.to_path_buf(), port, url: format!("nats://127.0.0.1:{port}"), child: None };
        n.up();
        Some(n)
    }
    pub fn up(&mut self) {
        let child = Command::new("nats-server").args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string(), "-sd"]).arg(&self.dir).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    /// SIGKILL: no goodbye to anyone.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.kill();
    }
}
