//! A real server on a real SQLite file in a temporary directory, on a free port, with a clock
//! the test moves; and a small HTTP client that returns (status, JSON) whatever the status.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tessera_engine::core::{Effect, LabelFate, Work};
use tessera_live::log::Entry;
use tessera_live::project::Settings;
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
    /// A node on the store `url` (several nodes may share a PostgreSQL database).
    pub fn start_url(url: &str, clock: Arc<ManualClock>) -> Server {
        Self::start_store(url.to_string(), Path::new(url), clock.clone(), clock, vec![0.2; 5])
    }
    fn start_on(db: &Path, clock: Arc<ManualClock>, used: Arc<dyn tessera_live::clock::Clock>, schedule: Vec<f64>) -> Server {
        Self::start_store(store_for(db), db, clock, used, schedule)
    }
    fn start_store(store: String, db: &Path, clock: Arc<ManualClock>, used: Arc<dyn tessera_live::clock::Clock>, schedule: Vec<f64>) -> Server {
        // The server's logs on stderr with TESSERA_LOG (e.g. TESSERA_LOG=warn).
        if let Ok(filter) = std::env::var("TESSERA_LOG") {
            let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(filter)).with_test_writer().try_init();
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let cfg = ServeConfig {
            db: store,
            listen: "127.0.0.1:0".into(),
            admin_key: Some(ADMIN.into()),
            delivery: DeliveryConfig { schedule, visibility: 2.0, timeout: 2.0, poll: 0.05 },
            workers: 2,
            clock: used,
            queue: None,
            drift: Default::default(),
            rehearsal_speedup: None,
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

/// The store a test server at `db` uses: the SQLite file, or with `TESSERA_TEST_STORE=postgres`
/// a database of its own on the PostgreSQL server at `TESSERA_TEST_PG` (one per path, so that a
/// restarted server finds its data), created empty on first use.
pub fn store_for(db: &Path) -> String {
    if std::env::var("TESSERA_TEST_STORE").as_deref() != Ok("postgres") {
        return db.display().to_string();
    }
    assert!(std::env::var("TESSERA_TEST_PG").is_ok(), "TESSERA_TEST_STORE=postgres needs TESSERA_TEST_PG (a server URL whose user may create databases; scripts/services.sh starts one)");
    pg_store(db)
}

/// A PostgreSQL database of its own for the test store at `db` (created empty on first use).
pub fn pg_store(db: &Path) -> String {
    let base = std::env::var("TESSERA_TEST_PG").expect("TESSERA_TEST_PG");
    tessera_live::store::postgres::create_database(&base, &pg_database_name(db), false).expect("a test database")
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

fn pg_database_name(db: &Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut h);
    format!("tessera_test_{:016x}", h.finish())
}

/// The rows `sql` gives on `store` (a SQLite file or a PostgreSQL URL, as [`store_for`] gives),
/// every value as text ("NULL" for null).
pub fn rows(store: &str, sql: &str) -> Vec<Vec<String>> {
    if store.starts_with("postgres") {
        let mut c = postgres::Client::connect(store, postgres::NoTls).expect("connect");
        let mut out = Vec::new();
        for m in c.simple_query(sql).expect(sql) {
            if let postgres::SimpleQueryMessage::Row(r) = m {
                out.push((0..r.len()).map(|i| r.get(i).unwrap_or("NULL").to_string()).collect());
            }
        }
        return out;
    }
    let c = rusqlite::Connection::open(store).unwrap();
    let mut st = c.prepare(sql).expect(sql);
    let n = st.column_count();
    st.query_map([], |r| {
        Ok((0..n)
            .map(|i| match r.get::<_, rusqlite::types::Value>(i).unwrap() {
                rusqlite::types::Value::Null => "NULL".to_string(),
                rusqlite::types::Value::Integer(x) => x.to_string(),
                rusqlite::types::Value::Real(x) => x.to_string(),
                rusqlite::types::Value::Text(x) => x,
                rusqlite::types::Value::Blob(x) => format!("{x:?}"),
            })
            .collect())
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
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

/// Replays project `p`'s log, as `store` holds it, through a fresh core alone (no
/// server, no store) and checks that its effects are what the store holds: every lease (who,
/// what, which task, how it ended), every answer with its fate in order, every final label and
/// how often each task got one (re-opens included), and every ban.
pub fn assert_log_replays(store: &str, p: i64) {
    // What the store holds (SQLite or PostgreSQL: `common::rows` gives every value as text).
    let rows = |sql: &str| rows(store, sql);
    let leases = rows("SELECT assignment, annotator, task, kind, state FROM leases ORDER BY assignment");
    let answers = rows("SELECT assignment, annotator, kind, label, fate, CASE WHEN late THEN 1 ELSE 0 END FROM answers ORDER BY id");
    let finals = rows("SELECT id, label, finals FROM tasks WHERE finals > 0 ORDER BY id");
    let project = &rows(&format!("SELECT settings, lease_us, seed FROM projects WHERE id = {p}"))[0];
    let (settings_text, lease_us, seed): (String, i64, i64) = (project[0].clone(), project[1].parse().unwrap(), project[2].parse().unwrap());
    let annotator_rows: Vec<i64> = rows(&format!("SELECT id FROM annotators WHERE project = {p} ORDER BY core_id")).iter().map(|r| r[0].parse().unwrap()).collect();
    let log: Vec<(u64, u64, String)> = rows(&format!("SELECT seq, at_us, entry FROM log WHERE project = {p} ORDER BY seq")).into_iter().map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap(), r[2].clone())).collect();

    // The core alone, fed the log.
    let settings = Settings::parse(&settings_text, false, lease_us as u64, seed as u64).unwrap();
    let mut core = settings.core();
    let mut assigned: BTreeMap<u64, (i64, &str, Option<u64>)> = BTreeMap::new();
    let mut closed: BTreeMap<u64, &str> = BTreeMap::new();
    let mut labels = Vec::new();
    let mut final_count: BTreeMap<u64, (u16, u32)> = BTreeMap::new();
    let mut bans: BTreeMap<i64, i64> = BTreeMap::new();
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
                Effect::Banned { annotator, until } => {
                    bans.insert(annotator_rows[annotator as usize], until.map_or(i64::MAX, |u| u.0 as i64));
                }
                Effect::Unbanned { annotator } => {
                    bans.insert(annotator_rows[annotator as usize], 0);
                }
                _ => {}
            }
        }
    }
    assert!(leases.len() > 100 && answers.len() > 50 && finals.len() > 10, "the workload did something: {} leases, {} answers, {} finals", leases.len(), answers.len(), finals.len());
    assert_eq!(leases.len(), assigned.len(), "one lease row per Assign");
    for l in &leases {
        let asg: u64 = l[0].parse().unwrap();
        let (annotator, kind, task) = assigned[&asg];
        assert_eq!(l[1], annotator.to_string(), "lease {asg}: who");
        assert_eq!(l[3], kind, "lease {asg}: what");
        if let Some(t) = task {
            assert_eq!(l[2], t.to_string(), "lease {asg}: which task");
        }
        let state = closed.get(&asg).copied().unwrap_or("open");
        assert_eq!(l[4], state, "lease {asg}: how it ended");
    }
    assert_eq!(answers, labels, "every answer with the fate the core gave it, in order");
    let replayed: Vec<Vec<String>> = final_count.iter().map(|(t, (l, n))| vec![t.to_string(), l.to_string(), n.to_string()]).collect();
    assert_eq!(finals, replayed, "final labels and how often each task got one");
    let stored_bans: BTreeMap<i64, i64> = rows(&format!("SELECT id, banned_until_us FROM annotators WHERE project = {p} AND banned_until_us IS NOT NULL")).iter().map(|r| (r[0].parse().unwrap(), r[1].parse().unwrap())).collect();
    assert_eq!(stored_bans, bans, "every ban and unban");
}
