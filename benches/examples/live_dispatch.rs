//! The live server's dispatch throughput, on the path users run: HTTP over loopback to a real
//! `tessera serve` (in this process) on a real SQLite file with durable commits.
//!
//! Fixed set-up (the live-dispatch issue's): N concurrent annotators (default 64), each a client
//! thread looping `POST .../next` then `POST .../submit`; overlap 3; skill-greedy routing; 1 KB
//! payloads; a store holding `--stored` tasks of which `--waiting` wait (the rest final, written
//! straight into the file as history: they are rows, not live state); a feeder keeps the
//! waiting count up. After `--warmup` seconds it measures `--seconds`: lease+submit cycles per
//! second and the latency of a cycle. Beside it, the machine's own limit: how many single-row
//! durable transactions per second SQLite commits here (WAL, synchronous=FULL).
//!
//! With `--pg URL` (a PostgreSQL server; the bench makes its own databases there) the store is
//! PostgreSQL and `--nodes K` servers share it, people spread over them; the machine's limit is
//! then pgbench's built-in simple-update script on the same server, with as many clients as
//! there are annotators (`-c 64 -j 2`, scale 10, `--seconds` long).
//!
//!     cargo run --release -p tessera-benches --example live_dispatch -- --stored 1000000
//!     cargo run --release -p tessera-benches --example live_dispatch -- --pg postgres://postgres@127.0.0.1:54329/postgres --nodes 2

use serde_json::json;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "bench-admin-key-0123456789";

struct Args {
    stored: u64,
    waiting: u64,
    annotators: usize,
    seconds: f64,
    warmup: f64,
    payload: usize,
    db: Option<PathBuf>,
    pg: Option<String>,
    nodes: usize,
}

fn args() -> Args {
    let mut a = Args { stored: 1_000_000, waiting: 100_000, annotators: 64, seconds: 60.0, warmup: 10.0, payload: 1024, db: None, pg: None, nodes: 1 };
    let v: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < v.len() {
        let val = v.get(i + 1).cloned().unwrap_or_default();
        match v[i].as_str() {
            "--stored" => a.stored = val.parse().expect("--stored N"),
            "--waiting" => a.waiting = val.parse().expect("--waiting N"),
            "--annotators" => a.annotators = val.parse().expect("--annotators N"),
            "--seconds" => a.seconds = val.parse().expect("--seconds S"),
            "--warmup" => a.warmup = val.parse().expect("--warmup S"),
            "--payload" => a.payload = val.parse().expect("--payload BYTES"),
            "--db" => a.db = Some(PathBuf::from(val)),
            "--pg" => a.pg = Some(val),
            "--nodes" => a.nodes = val.parse().expect("--nodes K"),
            "--help" | "-h" => {
                println!("live_dispatch [--stored 1000000] [--waiting 100000] [--annotators 64] [--seconds 60] [--warmup 10] [--payload 1024] [--db PATH | --pg URL [--nodes K]]");
                std::process::exit(0);
            }
            other => panic!("unknown argument {other} (try --help)"),
        }
        i += 2;
    }
    a.waiting = a.waiting.min(a.stored);
    a
}

/// A minimal HTTP/1.1 keep-alive client for the measured loop: one connection per annotator,
/// requests written whole, answers read by Content-Length. (A general client's per-request
/// costs, e.g. setting socket timeouts, would take CPU from the server on a 2-core machine.)
struct Conn {
    addr: String,
    stream: Option<std::io::BufReader<std::net::TcpStream>>,
}

impl Conn {
    fn new(base: &str) -> Conn {
        Conn { addr: base.trim_start_matches("http://").to_string(), stream: None }
    }
    fn post(&mut self, path: &str, token: &str, body: &str) -> serde_json::Value {
        use std::io::{BufRead, Read, Write};
        for _ in 0..100 {
            if self.stream.is_none() {
                let s = std::net::TcpStream::connect(&self.addr).unwrap();
                s.set_nodelay(true).unwrap();
                self.stream = Some(std::io::BufReader::new(s));
            }
            let r = self.stream.as_mut().unwrap();
            let req = format!("POST {path} HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", self.addr, body.len());
            if r.get_mut().write_all(req.as_bytes()).is_err() {
                self.stream = None;
                continue;
            }
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                self.stream = None;
                continue;
            }
            let status: u16 = line.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
            let mut len = 0;
            loop {
                line.clear();
                r.read_line(&mut line).unwrap();
                let t = line.trim_end();
                if t.is_empty() {
                    break;
                }
                if let Some((k, v)) = t.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap();
                    }
                }
            }
            let mut buf = vec![0; len];
            r.read_exact(&mut buf).unwrap();
            if status == 503 {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            assert!(status < 300, "POST {path}: HTTP {status}: {}", String::from_utf8_lossy(&buf));
            return serde_json::from_slice(&buf).unwrap_or(serde_json::Value::Null);
        }
        panic!("POST {path}: the server kept refusing");
    }
}

fn post(agent: &ureq::Agent, url: &str, token: &str, body: Option<serde_json::Value>) -> serde_json::Value {
    let req = agent.post(url).set("authorization", &format!("Bearer {token}"));
    let mut tries = 0;
    loop {
        let r = match &body {
            Some(b) => req.clone().send_json(b.clone()),
            None => req.clone().call(),
        };
        match r {
            Ok(r) => return r.into_json().unwrap_or(serde_json::Value::Null),
            Err(ureq::Error::Status(503, _)) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("POST {url}: {e}"),
        }
    }
}

struct Server {
    base: String,
    handle: actix_web::dev::ServerHandle,
    thread: std::thread::JoinHandle<()>,
}

fn start(db: &str) -> Server {
    let (tx, rx) = std::sync::mpsc::channel();
    let cfg = tessera_live::server::ServeConfig {
        db: db.to_string(),
        listen: "127.0.0.1:0".into(),
        admin_key: Some(ADMIN.into()),
        delivery: Default::default(),
        workers: 2,
        clock: Arc::new(tessera_live::clock::SystemClock),
        queue: None,
        drift: Default::default(),
        rehearsal_speedup: None,
    };
    let thread = std::thread::spawn(move || tessera_live::server::serve(cfg, move |addr, h| tx.send((addr, h)).unwrap()).unwrap());
    let (addr, handle) = rx.recv().unwrap();
    Server { base: format!("http://{addr}"), handle, thread }
}

fn stop(s: Server) {
    actix_web::rt::System::new().block_on(s.handle.stop(true));
    s.thread.join().unwrap();
}

/// Single-row durable transactions per second from one connection (the machine's commit limit).
fn fsync_rate(dir: &Path) -> f64 {
    let c = rusqlite::Connection::open(dir.join("fsync.db")).unwrap();
    c.pragma_update(None, "journal_mode", "WAL").unwrap();
    c.pragma_update(None, "synchronous", "FULL").unwrap();
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)").unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < Duration::from_secs(3) {
        c.execute("INSERT INTO t (v) VALUES ('x')", []).unwrap();
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn fresh_database(server: &str, name: &str) -> String {
    tessera_live::store::postgres::create_database(server, name, true).expect("a database on --pg")
}

/// pgbench's simple-update script on `server`: transactions per second with `clients` clients
/// (scale 10, `seconds` long), the reference the PostgreSQL store is measured against.
fn pgbench(server: &str, clients: usize, seconds: f64) -> f64 {
    let db = fresh_database(server, "tessera_pgbench");
    let init = std::process::Command::new("pgbench").args(["-i", "-q", "-s", "10", &db]).output().expect("pgbench (PostgreSQL's client package)");
    assert!(init.status.success(), "pgbench -i: {}", String::from_utf8_lossy(&init.stderr));
    let out = std::process::Command::new("pgbench").args(["-c", &clients.to_string(), "-j", "2", "-T", &format!("{}", seconds.round() as u64), "-b", "simple-update", &db]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines().find(|l| l.starts_with("tps = ")).and_then(|l| l.split_whitespace().nth(2)).and_then(|x| x.parse().ok()).unwrap_or_else(|| panic!("pgbench said: {text} {}", String::from_utf8_lossy(&out.stderr)))
}

fn pct(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        0.0
    } else {
        v[((v.len() - 1) as f64 * q).round() as usize]
    }
}

fn main() {
    let a = args();
    let tmp = tempfile::tempdir().unwrap();
    let db = match &a.pg {
        Some(server) => fresh_database(server, "tessera_bench"),
        None => a.db.clone().unwrap_or_else(|| tmp.path().join("live.db")).display().to_string(),
    };
    let limit = match &a.pg {
        Some(server) => {
            let tps = pgbench(server, a.annotators, a.seconds);
            eprintln!("machine: pgbench simple-update {tps:.0} transactions/s (-c {} -j 2, scale 10, {:.0} s)", a.annotators, a.seconds);
            tps
        }
        None => {
            let limit = fsync_rate(tmp.path());
            eprintln!("machine: {limit:.0} durable single-row commits/s (SQLite WAL, synchronous=FULL, one connection)");
            limit
        }
    };

    // Project, then the final history written as rows, then the waiting tasks through the API.
    let s = start(&db);
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build();
    let key = post(&agent, &format!("{}/v1/tenants", s.base), ADMIN, Some(json!({ "name": "bench" })))["api_key"].as_str().unwrap().to_string();
    let settings = "[[streams]]\nname = \"images\"\ntask_type = \"bbox\"\nclasses = 4\n[quality]\noverlap = 3\n[routing]\npolicy = \"skill-greedy\"\n";
    let project = post(&agent, &format!("{}/v1/projects", s.base), &key, Some(json!({ "name": "bench", "settings": settings, "lease_seconds": 600 })))["id"].as_i64().unwrap();
    stop(s);
    let history = a.stored - a.waiting;
    let payload = "x".repeat(a.payload.saturating_sub(16));
    if a.pg.is_some() {
        let started = Instant::now();
        let mut c = postgres::Client::connect(&db, postgres::NoTls).unwrap();
        let body = json!({ "blob": payload }).to_string();
        let h = history as i64;
        c.execute("INSERT INTO tasks (id, project, stream, status, label, confidence, votes, finals, created_us, updated_us) SELECT g, $1, 0, 'settled', 1, 1.0, '[0,1,0,0]', 1, g, g FROM generate_series(1, $2::bigint) g", &[&project, &h]).unwrap();
        c.execute("INSERT INTO payloads (task, payload, metadata) SELECT g, $1, 'null' FROM generate_series(1, $2::bigint) g", &[&body, &h]).unwrap();
        c.batch_execute("VACUUM ANALYZE tasks").unwrap();
        c.batch_execute("VACUUM ANALYZE payloads").unwrap();
        eprintln!("wrote {history} final tasks as history in {:.1} s", started.elapsed().as_secs_f64());
    } else {
        let started = Instant::now();
        let mut c = rusqlite::Connection::open(&db).unwrap();
        let tx = c.transaction().unwrap();
        {
            let mut t = tx.prepare("INSERT INTO tasks (id, project, stream, status, label, confidence, votes, finals, created_us, updated_us) VALUES (?1, ?2, 0, 'settled', 1, 1.0, '[0,1,0,0]', 1, ?3, ?3)").unwrap();
            let mut p = tx.prepare("INSERT INTO payloads (task, payload, metadata) VALUES (?1, ?2, 'null')").unwrap();
            let body = json!({ "blob": payload }).to_string();
            for id in 1..=history as i64 {
                t.execute(rusqlite::params![id, project, id]).unwrap();
                p.execute(rusqlite::params![id, body]).unwrap();
            }
        }
        tx.commit().unwrap();
        eprintln!("wrote {history} final tasks as history in {:.1} s", started.elapsed().as_secs_f64());
    }
    let nodes: Vec<Server> = (0..a.nodes.max(1)).map(|_| start(&db)).collect();
    let s = &nodes[0];
    let started = Instant::now();
    let create = |n: u64| {
        let mut left = n;
        while left > 0 {
            let k = left.min(10_000);
            let tasks: Vec<_> = (0..k).map(|_| json!({ "payload": { "blob": payload } })).collect();
            post(&agent, &format!("{}/v1/projects/{project}/tasks/bulk", s.base), &key, Some(json!({ "tasks": tasks })));
            left -= k;
        }
    };
    create(a.waiting);
    eprintln!("created {} waiting tasks through the API in {:.1} s", a.waiting, started.elapsed().as_secs_f64());
    let people: Vec<(i64, String)> = (0..a.annotators)
        .map(|i| {
            let v = post(&agent, &format!("{}/v1/projects/{project}/annotators", s.base), &key, Some(json!({ "external_id": format!("a{i}") })));
            (v["annotator_id"].as_i64().unwrap(), v["token"].as_str().unwrap().to_string())
        })
        .collect();

    let stop_flag = Arc::new(AtomicBool::new(false));
    let measuring = Arc::new(AtomicBool::new(false));
    let cycles = Arc::new(AtomicU64::new(0));
    let finals = Arc::new(AtomicU64::new(0));
    let lat = Arc::new(Mutex::new(Vec::<(f64, f64, f64)>::new()));
    let mut threads = Vec::new();
    for (i, (id, token)) in people.into_iter().enumerate() {
        let base = nodes[i % nodes.len()].base.clone();
        let (stop_flag, measuring, cycles, finals, lat) = (stop_flag.clone(), measuring.clone(), cycles.clone(), finals.clone(), lat.clone());
        threads.push(std::thread::spawn(move || {
            let mut conn = Conn::new(&base);
            let mut mine = Vec::new();
            let mut label = id as u64;
            while !stop_flag.load(Ordering::Relaxed) {
                let t0 = Instant::now();
                let n = conn.post(&format!("/v1/annotators/{id}/next"), &token, "");
                let Some(asg) = n["lease"]["assignment_id"].as_u64() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                let t1 = Instant::now();
                label = label.wrapping_mul(6364136223846793005).wrapping_add(1);
                let r = conn.post(&format!("/v1/annotators/{id}/assignments/{asg}/submit"), &token, &format!("{{\"label\":{}}}", (label >> 33) % 4));
                if r["task_status"] == "final" {
                    finals.fetch_add(1, Ordering::Relaxed);
                }
                if measuring.load(Ordering::Relaxed) {
                    cycles.fetch_add(1, Ordering::Relaxed);
                    let ms = |d: Duration| d.as_secs_f64() * 1e3;
                    mine.push((ms(t0.elapsed()), ms(t1 - t0), ms(t1.elapsed())));
                }
            }
            lat.lock().unwrap().extend(mine);
        }));
    }
    // The feeder keeps the waiting count where it started.
    let feeder = {
        let (base, key, payload, stop_flag, finals) = (s.base.clone(), key.clone(), payload.clone(), stop_flag.clone(), finals.clone());
        std::thread::spawn(move || {
            let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(120)).build();
            let mut fed = 0;
            while !stop_flag.load(Ordering::Relaxed) {
                // Small batches often: a bulk create holds the single writer while it runs.
                std::thread::sleep(Duration::from_millis(100));
                let due = finals.load(Ordering::Relaxed) - fed;
                if due > 0 {
                    let tasks: Vec<_> = (0..due.min(10_000)).map(|_| json!({ "payload": { "blob": payload } })).collect();
                    post(&agent, &format!("{base}/v1/projects/{project}/tasks/bulk"), &key, Some(json!({ "tasks": tasks })));
                    fed += due.min(10_000);
                }
            }
        })
    };
    std::thread::sleep(Duration::from_secs_f64(a.warmup));
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(a.seconds));
    measuring.store(false, Ordering::Relaxed);
    let took = t0.elapsed().as_secs_f64();
    stop_flag.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    feeder.join().unwrap();
    let n = cycles.load(Ordering::Relaxed);
    let all = lat.lock().unwrap().clone();
    let mut l: Vec<f64> = all.iter().map(|x| x.0).collect();
    let (p50, p99) = (pct(&mut l, 0.5), pct(&mut l, 0.99));
    let mut nx: Vec<f64> = all.iter().map(|x| x.1).collect();
    let mut sb: Vec<f64> = all.iter().map(|x| x.2).collect();
    let (next50, next99, sub50, sub99) = (pct(&mut nx, 0.5), pct(&mut nx, 0.99), pct(&mut sb, 0.5), pct(&mut sb, 0.99));
    let metrics: Vec<String> = nodes.iter().map(|s| ureq::get(&format!("{}/metrics", s.base)).call().unwrap().into_string().unwrap()).collect();
    let get = |name: &str| metrics.iter().map(|m| m.lines().find(|x| x.starts_with(name)).and_then(|x| x.split_whitespace().last()).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0)).sum::<f64>();
    let per_commit = get("tessera_commit_ops_total ") / get("tessera_commit_batches_total ").max(1.0);
    for s in nodes {
        stop(s);
    }
    let rate = n as f64 / took;
    println!(
        "{}",
        json!({
            "store": if a.pg.is_some() { "postgres" } else { "sqlite" }, "nodes": a.nodes, "stored_tasks": a.stored, "waiting_tasks": a.waiting, "annotators": a.annotators, "overlap": 3, "payload_bytes": a.payload,
            "seconds": took, "cycles": n, "cycles_per_s": rate, "cycle_p50_ms": p50, "cycle_p99_ms": p99, "next_p50_ms": next50, "next_p99_ms": next99, "submit_p50_ms": sub50, "submit_p99_ms": sub99,
            "writes_per_commit": per_commit, "machine_commits_per_s": limit, "cycles_per_machine_commit": rate / limit, "machine_reference": if a.pg.is_some() { "pgbench simple-update tps" } else { "SQLite single-row commits/s" }
        })
    );
    eprintln!("{rate:.0} lease+submit cycles/s over {took:.0} s ({n} cycles), cycle p50 {p50:.1} ms, p99 {p99:.1} ms (next p99 {next99:.1} ms, submit p99 {sub99:.1} ms); {per_commit:.1} writes per commit; machine limit {limit:.0} commits/s → {:.2} cycles per possible commit", rate / limit);
}
