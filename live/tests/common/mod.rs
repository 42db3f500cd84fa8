//! A real server on a real SQLite file in a temporary directory, on a free port, with a clock
//! the test moves; and a small HTTP client that returns (status, JSON) whatever the status.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_live::clock::ManualClock;
use tessera_live::server::{serve, ServeConfig};
use tessera_live::webhooks::DeliveryConfig;

pub const ADMIN: &str = "test-admin-key-0123456789";
pub const T0: u64 = 1_800_000_000_000_000;

pub struct Server {
    pub base: String,
    pub clock: Arc<ManualClock>,
    pub db: PathBuf,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    pub fn start(db: &Path, clock: Arc<ManualClock>) -> Server {
        Self::start_with(db, clock, vec![0.2, 0.2, 0.2, 0.2, 0.2])
    }
    /// On the machine's clock (webhook retry schedules in real time).
    pub fn start_real(db: &Path, schedule: Vec<f64>) -> Server {
        Self::start_on(db, Arc::new(ManualClock::new(0)), Arc::new(tessera_live::clock::SystemClock), schedule)
    }
    pub fn start_with(db: &Path, clock: Arc<ManualClock>, schedule: Vec<f64>) -> Server {
        Self::start_on(db, clock.clone(), clock, schedule)
    }
    fn start_on(db: &Path, clock: Arc<ManualClock>, used: Arc<dyn tessera_live::clock::Clock>, schedule: Vec<f64>) -> Server {
        let (tx, rx) = std::sync::mpsc::channel();
        let cfg = ServeConfig {
            db: db.to_path_buf(),
            listen: "127.0.0.1:0".into(),
            admin_key: Some(ADMIN.into()),
            delivery: DeliveryConfig { schedule, visibility: 2.0, timeout: 2.0, poll: 0.05 },
            workers: 2,
            clock: used,
        };
        let thread = std::thread::spawn(move || {
            serve(cfg, move |addr, handle| {
                tx.send((addr, handle)).unwrap();
            })
            .expect("server runs");
        });
        let (addr, handle) = rx.recv_timeout(Duration::from_secs(30)).expect("server starts");
        Server { base: format!("http://{addr}"), clock, db: db.to_path_buf(), handle, thread: Some(thread) }
    }
    pub fn stop(mut self) {
        self.shutdown();
    }
    fn shutdown(&mut self) {
        if let Some(t) = self.thread.take() {
            actix_web::rt::System::new().block_on(self.handle.stop(true));
            t.join().expect("server thread");
        }
    }
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        call(&format!("{}{path}", self.base), method, token, body.map(|b| b.to_string()), &[])
    }
    pub fn raw(&self, method: &str, path: &str, token: &str, body: &str, headers: &[(&str, &str)]) -> (u16, Value) {
        call(&format!("{}{path}", self.base), method, token, Some(body.to_string()), headers)
    }
    pub fn text(&self, path: &str, token: &str) -> (u16, String) {
        match ureq::get(&format!("{}{path}", self.base)).set("authorization", &format!("Bearer {token}")).call() {
            Ok(r) => (r.status(), r.into_string().unwrap()),
            Err(ureq::Error::Status(c, r)) => (c, r.into_string().unwrap_or_default()),
            Err(e) => panic!("{path}: {e}"),
        }
    }
    /// Moves the clock and waits until `check` holds (the writer wakes at most a second later).
    pub fn advance(&self, us: u64) {
        self.clock.advance(us);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

pub fn call(url: &str, method: &str, token: &str, body: Option<String>, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = ureq::request(method, url).set("authorization", &format!("Bearer {token}")).timeout(Duration::from_secs(30));
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let r = match body {
        Some(b) => req.set("content-type", "application/json").send_string(&b),
        None => req.call(),
    };
    let (status, resp) = match r {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(c, r)) => (c, r),
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let text = resp.into_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Polls `f` until it returns Some, for up to 10 s.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(x) = f() {
            return x;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn tenant(s: &Server, name: &str) -> String {
    let (st, v) = s.call("POST", "/v1/tenants", ADMIN, Some(json!({ "name": name })));
    assert_eq!(st, 201, "{v}");
    v["api_key"].as_str().unwrap().to_string()
}

/// A project; returns (id, webhook secret).
pub fn project(s: &Server, key: &str, settings: &str, lease_seconds: f64) -> (i64, String) {
    let (st, v) = s.call("POST", "/v1/projects", key, Some(json!({ "name": "p", "settings": settings, "lease_seconds": lease_seconds })));
    assert_eq!(st, 201, "{v}");
    (v["id"].as_i64().unwrap(), v["webhook_secret"].as_str().unwrap().to_string())
}

pub fn annotator(s: &Server, key: &str, project: i64, reg: Value) -> (i64, String) {
    let (st, v) = s.call("POST", &format!("/v1/projects/{project}/annotators"), key, Some(reg));
    assert_eq!(st, 201, "{v}");
    (v["annotator_id"].as_i64().unwrap(), v["token"].as_str().unwrap().to_string())
}

pub fn task(s: &Server, key: &str, project: i64, body: Value) -> i64 {
    let (st, v) = s.call("POST", &format!("/v1/projects/{project}/tasks"), key, Some(body));
    assert_eq!(st, 201, "{v}");
    v["task_id"].as_i64().unwrap()
}

/// `next` for a person: Some(lease) or None.
pub fn next(s: &Server, id: i64, token: &str) -> Option<Value> {
    let (st, v) = s.call("POST", &format!("/v1/annotators/{id}/next"), token, None);
    assert_eq!(st, 200, "{v}");
    v.get("lease").cloned()
}

pub fn submit(s: &Server, id: i64, token: &str, assignment: u64, body: Value) -> (u16, Value) {
    s.call("POST", &format!("/v1/annotators/{id}/assignments/{assignment}/submit"), token, Some(body))
}

pub fn get_task(s: &Server, key: &str, task: i64) -> Value {
    let (st, v) = s.call("GET", &format!("/v1/tasks/{task}"), key, None);
    assert_eq!(st, 200, "{v}");
    v
}

pub const ONE_STREAM: &str = "[[streams]]\nname = \"img\"\ntask_type = \"bbox\"\nclasses = 3\n[quality]\noverlap = 1\n";

pub fn one_stream(overlap: u32) -> String {
    ONE_STREAM.replace("overlap = 1", &format!("overlap = {overlap}"))
}
