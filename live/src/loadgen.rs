//! `tessera loadgen`: a scenario's synthetic workforce against a real server. The simulation's
//! own actors (task sources with their arrival processes, annotators with their speed, accuracy,
//! learning, fatigue, shifts and walk-aways) run on the engine's kernel, paced by the wall clock
//! at `speedup` simulated seconds per real second; the dispatcher actor is replaced by a
//! [`Gateway`] that turns their messages into HTTP calls. Hidden truth stays here: the server
//! only ever sees payloads and, for golden tasks, their known answers.
//!
//! ```text
//!   TaskSource ──Arrive──▶ Gateway ──POST tasks──────────▶ tessera serve
//!   Annotator  ◀─Assign─── Gateway ◀─POST .../next──────── (routing, quality, workflow:
//!   Annotator ──Submit──▶  Gateway ──POST .../submit─────▶  the decision core)
//! ```
//!
//! People pull work: an annotator told "no work" waits; the gateway wakes the waiting ones when
//! it creates a task or an answer may have opened a slot (the client-side equivalent of the
//! simulation's push), and they also retry on their own after the server's `retry_after_s`.
//! A walk-away (the simulation's abandoned lease) gives the assignment back (`return`).

use crate::api;
use anyhow::{anyhow, bail, Context as _, Result};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tessera_engine::domain::{Job, Msg};
use tessera_engine::kernel::{Actor, ActorId, Context};
use tessera_engine::run::{build, RunOptions, SimActor};
use tessera_engine::spec::Scenario;
use tessera_engine::time::{Dur, SimTime};

/// How to play a scenario.
#[derive(Clone, Debug)]
pub struct LoadgenConfig {
    /// Base URL, e.g. http://127.0.0.1:8080, or several, comma-separated (nodes on one
    /// PostgreSQL database): each person sticks to one, and moves on when it is down.
    pub server: String,
    /// Creates a tenant for the run (unless `api_key` is given).
    pub admin_key: Option<String>,
    pub api_key: Option<String>,
    /// Simulated seconds per wall-clock second.
    pub speedup: f64,
    pub seed: u64,
    /// Stop after this much wall time, whatever is left.
    pub max_wall: Option<Duration>,
    /// Print progress lines to stderr.
    pub progress: bool,
    /// Ask for a webhook of every final label at this URL.
    pub callback_url: Option<String>,
    /// Append every acknowledged answer here, one JSON line each (crash tests check that none is lost).
    pub record: Option<std::path::PathBuf>,
}

/// What a run measured.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct LoadgenReport {
    pub project_id: i64,
    pub tasks_created: u64,
    pub tasks_final: u64,
    /// Tasks that left the queue unserved (the streams' queue patience).
    pub tasks_left_unserved: u64,
    /// Share of final labels equal to the hidden truth.
    pub accuracy: Option<f64>,
    /// [h, simulated] from arrival to the final label, over final tasks.
    pub mean_time_in_system_h: Option<f64>,
    pub p90_time_in_system_h: Option<f64>,
    /// HTTP requests made.
    pub requests: u64,
    /// [ms, wall] HTTP latency of next and submit.
    pub http_p50_ms: f64,
    pub http_p99_ms: f64,
    pub wall_s: f64,
    pub simulated_h: f64,
    pub speedup: f64,
    /// Whether the wall-clock budget ran out before every task was final or had left unserved.
    pub cut_short: bool,
}

/// The servers, called as a load balancer would: each person sticks to one node, and a call
/// that finds its node down or overloaded moves on to the next.
struct Http {
    agent: ureq::Agent,
    bases: Vec<String>,
    /// Until when each node is taken for down (it refused a connection).
    down_until: Vec<Option<Instant>>,
    latencies: Vec<f64>,
}

impl Http {
    fn call(&mut self, method: &str, path: &str, token: &str, body: Option<serde_json::Value>) -> Result<serde_json::Value> {
        self.call_on(0, method, path, token, body, None)
    }

    /// Every task of `project` the list route gives for `query` (e.g. `status=left_unserved`;
    /// empty for all), page by page (1,000 a page) until a page is the last or empty.
    fn each_task(&mut self, project: i64, token: &str, query: &str, mut each: impl FnMut(&api::Task)) -> Result<()> {
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/v1/projects/{project}/tasks?limit=1000");
            if !query.is_empty() {
                path.push('&');
                path.push_str(query);
            }
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let page: api::TaskPage = serde_json::from_value(self.call("GET", &path, token, None)?)?;
            page.tasks.iter().for_each(&mut each);
            match page.next_cursor {
                Some(c) if !page.tasks.is_empty() => cursor = Some(c),
                _ => return Ok(()),
            }
        }
    }
    fn call_with(&mut self, method: &str, path: &str, token: &str, body: Option<serde_json::Value>, idempotency: Option<&str>) -> Result<serde_json::Value> {
        self.call_on(0, method, path, token, body, idempotency)
    }

    /// A call, retried while the server is unreachable or overloaded (a restarting server, a
    /// full write queue): every write loadgen makes is safe to retry (task creation carries an
    /// Idempotency-Key, `next` returns a lease already held, answers are idempotent).
    fn call_on(&mut self, node: usize, method: &str, path: &str, token: &str, body: Option<serde_json::Value>, idempotency: Option<&str>) -> Result<serde_json::Value> {
        let started = Instant::now();
        let mut tries = 0;
        let n = self.bases.len();
        let resp = loop {
            // This person's node, or the next one not known to be down.
            let now = Instant::now();
            let at = (0..n).map(|k| (node + tries + k) % n).find(|&b| self.down_until[b].is_none_or(|t| t <= now)).unwrap_or((node + tries) % n);
            let url = format!("{}{path}", self.bases[at]);
            let mut req = self.agent.request(method, &url).set("authorization", &format!("Bearer {token}"));
            if let Some(k) = idempotency {
                req = req.set("idempotency-key", k);
            }
            let r = match &body {
                Some(b) => req.clone().send_json(b.clone()),
                None => req.clone().call(),
            };
            match r {
                Ok(r) => break r,
                // A node that refuses connections is down: try another one at once.
                Err(ureq::Error::Transport(_)) if tries < 600 && n > 1 && self.down_until.iter().any(|t| t.is_none_or(|t| t <= now)) => {
                    self.down_until[at] = Some(now + Duration::from_secs(2));
                    tries += 1;
                }
                // 503 with Retry-After (overload, or a store that failed): wait and try again; every
                // write loadgen makes is safe to repeat.
                Err(ureq::Error::Status(503, _)) | Err(ureq::Error::Transport(_)) if tries < 600 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(ureq::Error::Status(code, r)) => {
                    let text = r.into_string().unwrap_or_default();
                    bail!("{method} {path}: HTTP {code}: {text}");
                }
                Err(e) => bail!("{method} {path}: {e}"),
            }
        };
        self.latencies.push(started.elapsed().as_secs_f64() * 1e3);
        let text = resp.into_string().with_context(|| format!("{method} {path}: reading the answer"))?;
        if text.is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }
}

/// What the gateway knows of a task it created (never sent to the server).
#[derive(Clone, Copy)]
struct Hidden {
    truth: u16,
    difficulty: f32,
    /// Simulated arrival, and when its final label came (the answer that made it final).
    arrived: SimTime,
    finished: Option<SimTime>,
}

/// The dispatcher's stand-in: simulated actors' messages ↔ HTTP.
pub struct Gateway {
    http: Http,
    api_key: String,
    project: i64,
    setup: tessera_engine::core::setup::Setup,
    /// Per simulated annotator: (server id, token).
    people: Vec<(i64, String)>,
    annotator_actors: Vec<ActorId>,
    sources: Vec<ActorId>,
    hidden: HashMap<i64, Hidden>,
    /// Known answers of golden tasks.
    gold: HashMap<i64, u16>,
    /// Lease → (task, annotator) for answers.
    leases: HashMap<(u32, u64), i64>,
    /// Tasks created and not known to be over: final (a submit's reply says so) or left
    /// unserved (asked of the server once arrivals are over: [`Gateway::forget_left`]).
    open: HashSet<i64>,
    /// Once arrivals are over: when the server was last asked for tasks that left unserved
    /// (wall clock), and the server time [µs since the Unix epoch] to ask from next.
    left_polled: Option<Instant>,
    left_since_us: Option<u64>,
    /// Simulated annotators holding a lease.
    busy: HashSet<u32>,
    waiting: Vec<u32>,
    /// Each waiting person's own retry timer.
    retries: HashMap<u32, tessera_engine::kernel::TimerId>,
    off_shift: HashSet<u32>,
    task_limit: Option<u64>,
    horizon: Option<SimTime>,
    created: u64,
    stopped_arrivals: bool,
    parent: Option<i64>,
    error: Option<anyhow::Error>,
    speedup: f64,
    callback_url: Option<String>,
    record: Option<std::fs::File>,
}

impl Gateway {
    fn fail(&mut self, e: anyhow::Error, ctx: &mut (impl Context<Msg> + ?Sized)) {
        if self.error.is_none() {
            self.error = Some(e);
        }
        ctx.stop();
    }

    fn stop_arrivals(&mut self, ctx: &mut (impl Context<Msg> + ?Sized)) {
        if !self.stopped_arrivals {
            self.stopped_arrivals = true;
            for &s in &self.sources {
                ctx.send(s, Msg::StopArrivals);
            }
        }
    }

    /// Asks the server for work for simulated annotator `a` and hands it over.
    fn next(&mut self, a: u32, ctx: &mut (impl Context<Msg> + ?Sized)) -> Result<()> {
        // Off shift, or already working (a retry timer set while it waited can fire after it
        // got work some other way).
        if self.off_shift.contains(&a) || self.busy.contains(&a) {
            return Ok(());
        }
        let (id, token) = self.people[a as usize].clone();
        let v = self.http.call_on(id as usize, "POST", &format!("/v1/annotators/{id}/next"), &token, None, None)?;
        let ans: api::NextAnswer = serde_json::from_value(v)?;
        let Some(lease) = ans.lease else {
            if !self.waiting.contains(&a) {
                self.waiting.push(a);
            }
            // Also ask again on our own after the server's hint (simulated time runs `speedup`
            // times faster); one pending retry per person, the latest.
            let retry = ans.retry_after_s.unwrap_or(5.0) * self.speedup;
            let me = ctx.me();
            if let Some(t) = self.retries.remove(&a) {
                ctx.cancel(t);
            }
            self.retries.insert(a, ctx.send_in(Dur((retry * 1e6) as u64), me, Msg::Available { annotator: a }));
            return Ok(());
        };
        self.waiting.retain(|&w| w != a);
        let stream = self.setup.streams.iter().position(|s| s.name == lease.stream).unwrap_or(0);
        let info = &self.setup.streams[stream];
        let node = info.workflow.stages.iter().find(|n| n.name == lease.stage);
        let ttype = node.map_or(info.ttype, |n| n.ttype);
        let (truth, difficulty) = match lease.kind.as_str() {
            "gold" => (self.gold.get(&lease.task_id).copied().unwrap_or(0), info.mean_difficulty),
            _ => self.hidden.get(&lease.task_id).map_or((0, 0.0), |h| (h.truth, h.difficulty)),
        };
        let job = Job {
            assignment: tessera_engine::core::AssignmentId(lease.assignment_id),
            ttype,
            classes: info.classes,
            truth,
            prelabel: lease.prelabel,
            model: tessera_engine::domain::NO_MODEL,
            difficulty,
            slowdown: 1.0,
            review: lease.proposed,
            review_by_skill: node.is_some_and(|n| n.own_skill),
            swapped: lease.swapped,
        };
        self.leases.insert((a, lease.assignment_id), lease.task_id);
        self.busy.insert(a);
        ctx.send(self.annotator_actors[a as usize], Msg::Assign(job));
        Ok(())
    }

    fn arrive(&mut self, nt: tessera_engine::domain::NewTask, ctx: &mut (impl Context<Msg> + ?Sized)) -> Result<()> {
        if nt.part {
            if self.parent.is_none() {
                return Ok(());
            }
        } else if self.task_limit.is_some_and(|l| self.created >= l) || self.stopped_arrivals {
            self.parent = None;
            return Ok(());
        }
        let stream = &self.setup.streams[nt.stream as usize];
        let mut body = json!({ "stream": stream.name, "payload": { "item": self.created, "simulated": true } });
        if let Some(url) = &self.callback_url {
            body["callback_url"] = json!(url);
        }
        if nt.parts > 0 {
            body["parts"] = json!(nt.parts);
        }
        if nt.part {
            body["part_of"] = json!(self.parent);
        }
        let key = self.api_key.clone();
        let idem = format!("loadgen-{}-{}", self.project, self.created);
        let v = self.http.call_with("POST", &format!("/v1/projects/{}/tasks", self.project), &key, Some(body), Some(&idem))?;
        let created: api::TaskCreated = serde_json::from_value(v)?;
        self.created += 1;
        if !nt.part {
            self.parent = (nt.parts > 0).then_some(created.task_id);
            if let Some(l) = &mut self.task_limit {
                *l = (*l).max(self.created + nt.parts as u64);
            }
        }
        self.hidden.insert(created.task_id, Hidden { truth: nt.truth, difficulty: nt.difficulty, arrived: ctx.now(), finished: None });
        self.open.insert(created.task_id);
        if self.task_limit == Some(self.created) {
            self.stop_arrivals(ctx);
        }
        Ok(())
    }

    fn answered(&mut self, a: u32, assignment: u64, body: serde_json::Value, path: &str, now: SimTime) -> Result<()> {
        let (id, token) = self.people[a as usize].clone();
        let v = match self.http.call_on(id as usize, "POST", &format!("/v1/annotators/{id}/assignments/{assignment}/{path}"), &token, Some(body.clone()), None) {
            Ok(v) => v,
            // A give-back retried after the server went down may have been done already.
            Err(e) if path == "return" && e.to_string().contains("HTTP 409") => serde_json::Value::Null,
            Err(e) => return Err(e),
        };
        self.busy.remove(&a);
        if let (Some(f), "submit") = (&mut self.record, path) {
            use std::io::Write;
            writeln!(f, "{}", json!({ "annotator": id, "assignment": assignment, "answer": body, "reply": v }))?;
            f.flush()?;
        }
        if let Some(task) = self.leases.remove(&(a, assignment)) {
            if v.get("task_status").and_then(|s| s.as_str()) == Some("final") {
                self.open.remove(&task);
                if let Some(h) = self.hidden.get_mut(&task) {
                    h.finished = Some(now);
                }
            }
        }
        Ok(())
    }

    fn arrivals_over(&self, now: SimTime) -> bool {
        self.stopped_arrivals || self.horizon.is_some_and(|h| now >= h)
    }

    fn done(&self, now: SimTime) -> bool {
        self.arrivals_over(now) && self.open.is_empty()
    }

    /// Drops from `open` the tasks that left the queue unserved (queue patience): no answer
    /// tells loadgen of them, and a run waiting for every task to be over would wait for ever.
    /// Asked at most once a wall-clock second, for the tasks changed since a minute before the
    /// last ask (a margin for clocks that differ between this machine and the server's).
    fn forget_left(&mut self) -> Result<()> {
        if self.left_polled.is_some_and(|t| t.elapsed() < Duration::from_secs(1)) {
            return Ok(());
        }
        self.left_polled = Some(Instant::now());
        let asked_at_us = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let query = match self.left_since_us {
            Some(since) => format!("status=left_unserved&updated_after_us={since}"),
            None => "status=left_unserved".to_string(),
        };
        let open = &mut self.open;
        self.http.each_task(self.project, &self.api_key, &query, |t| {
            open.remove(&t.id);
        })?;
        self.left_since_us = Some(asked_at_us.saturating_sub(60_000_000));
        Ok(())
    }

    fn step(&mut self, msg: Msg, ctx: &mut (impl Context<Msg> + ?Sized)) -> Result<()> {
        if let Some(h) = self.horizon {
            if ctx.now() >= h {
                self.stop_arrivals(ctx);
            }
        }
        match msg {
            Msg::Arrive(nt) => {
                self.arrive(nt, ctx)?;
                self.wake(ctx);
            }
            Msg::Available { annotator } => {
                self.off_shift.remove(&annotator);
                self.next(annotator, ctx)?;
            }
            Msg::Unavailable { annotator } => {
                self.off_shift.insert(annotator);
                self.waiting.retain(|&w| w != annotator);
            }
            Msg::Submit { annotator, assignment, label, review, leaving } => {
                let body = if review { json!({ "accept": label == 1 }) } else { json!({ "label": label }) };
                self.answered(annotator, assignment.0, body, "submit", ctx.now())?;
                if leaving {
                    self.off_shift.insert(annotator);
                } else {
                    self.next(annotator, ctx)?;
                }
                self.wake(ctx);
            }
            Msg::Abandoned { annotator, assignment, leaving } => {
                self.answered(annotator, assignment.0, json!({}), "return", ctx.now())?;
                if leaving {
                    self.off_shift.insert(annotator);
                } else {
                    self.next(annotator, ctx)?;
                }
                self.wake(ctx);
            }
            _ => {}
        }
        if self.arrivals_over(ctx.now()) && !self.open.is_empty() {
            self.forget_left()?;
        }
        if self.done(ctx.now()) {
            ctx.stop();
        }
        Ok(())
    }

    /// Wakes the annotators waiting for work (a new task or an answer may have opened a slot).
    fn wake(&mut self, ctx: &mut (impl Context<Msg> + ?Sized)) {
        let me = ctx.me();
        for a in std::mem::take(&mut self.waiting) {
            ctx.send(me, Msg::Available { annotator: a });
        }
    }
}

impl Actor<Msg> for Gateway {
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        if self.error.is_some() {
            return;
        }
        if let Err(e) = self.step(msg, ctx) {
            self.fail(e, ctx);
        }
    }
}

/// The actors of a load run: the simulation's, with the gateway in the dispatcher's place.
pub enum LoadActor {
    Gateway(Box<Gateway>),
    Sim(SimActor),
}

impl Actor<Msg> for LoadActor {
    fn handle<C: Context<Msg> + ?Sized>(&mut self, msg: Msg, ctx: &mut C) {
        match self {
            LoadActor::Gateway(g) => g.handle(msg, ctx),
            LoadActor::Sim(a) => a.handle(msg, ctx),
        }
    }
}

/// Plays `scenario` (whose TOML is `text`) against the server; returns what it measured.
pub fn run(scenario: &Scenario, text: &str, cfg: &LoadgenConfig) -> Result<LoadgenReport> {
    if !scenario.models.is_empty() {
        bail!("this scenario has [[models]]: a live project takes pre-labels from its clients, and loadgen does not play models yet");
    }
    if !(cfg.speedup > 0.0 && cfg.speedup <= 1e6) {
        bail!("--speedup: expected a number of simulated seconds per second between 0 and 10^6");
    }
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(60)).build();
    let bases: Vec<String> = cfg.server.split(',').map(|b| b.trim().trim_end_matches('/').to_string()).filter(|b| !b.is_empty()).collect();
    if bases.is_empty() {
        bail!("--server: no server URL");
    }
    let mut http = Http { agent, down_until: vec![None; bases.len()], bases, latencies: Vec::new() };
    let api_key = match (&cfg.api_key, &cfg.admin_key) {
        (Some(k), _) => k.clone(),
        (None, Some(admin)) => {
            let v = http.call("POST", "/v1/tenants", admin, Some(json!({ "name": format!("loadgen {}", scenario.name.clone().unwrap_or_default()) })))?;
            v["api_key"].as_str().ok_or_else(|| anyhow!("the server gave no api_key"))?.to_string()
        }
        (None, None) => bail!("give a tenant API key (TESSERA_API_KEY) or the admin key (TESSERA_ADMIN_KEY) so loadgen can create a tenant"),
    };
    let name = scenario.name.clone().unwrap_or_else(|| "loadgen".into());
    let v = http.call("POST", "/v1/projects", &api_key, Some(json!({ "name": name, "settings": text, "from_scenario": true, "seed": cfg.seed, "lease_seconds": 3600.0 })))?;
    let project = v["id"].as_i64().ok_or_else(|| anyhow!("the server gave no project id"))?;
    let groups: Vec<String> = serde_json::from_value(v["groups"].clone()).unwrap_or_default();

    let router = tessera_policies::router("fifo").expect("fifo exists");
    let built = build(scenario, router, RunOptions::figures(cfg.seed)).map_err(|e| anyhow!(e))?;
    let setup = tessera_engine::core::setup::setup(scenario).map_err(|e| anyhow!(e))?;
    // Register every synthetic person, as a real one would.
    let mut people = Vec::new();
    for (p, pool) in scenario.pools.iter().enumerate() {
        let pname = scenario.pool_name(p);
        let skills: Vec<serde_json::Value> = if pool.service.is_empty() {
            Vec::new()
        } else {
            pool.service.iter().map(|(t, d)| json!({ "task_type": t, "accuracy": pool.accuracy_by_type.get(t).unwrap_or(&pool.accuracy).mean(), "seconds_per_item": d.mean_secs() })).collect()
        };
        for j in 0..pool.count.max(0) {
            let mut reg = json!({ "external_id": format!("{pname}/{j}"), "skills": skills, "languages": pool.languages, "reserved_for": pool.reserved_for });
            if groups.contains(&pname) {
                reg["group"] = json!(pname);
            }
            match pool.pay {
                tessera_engine::spec::PaySpec::PerHour(r) => reg["pay_per_hour"] = json!(r),
                tessera_engine::spec::PaySpec::PerItem(r) => reg["pay_per_item"] = json!(r),
            }
            let v = http.call("POST", &format!("/v1/projects/{project}/annotators"), &api_key, Some(reg))?;
            people.push((v["annotator_id"].as_i64().unwrap_or(0), v["token"].as_str().unwrap_or_default().to_string()));
        }
    }
    // Golden tasks with known answers, when the scenario measures people on gold.
    let mut gold = HashMap::new();
    if scenario.quality.gold.as_ref().is_some_and(|g| g.rate > 0.0) {
        for st in &setup.streams {
            let tasks: Vec<serde_json::Value> = (0..(20 * st.classes.max(1) as u32)).map(|i| json!({ "stream": st.name, "payload": { "gold": i }, "gold_answer": (i % st.classes.max(1) as u32) })).collect();
            let v = http.call("POST", &format!("/v1/projects/{project}/tasks/bulk"), &api_key, Some(json!({ "tasks": tasks })))?;
            for (i, item) in v["items"].as_array().into_iter().flatten().enumerate() {
                if let Some(id) = item["task_id"].as_i64() {
                    gold.insert(id, (i as u32 % st.classes.max(1) as u32) as u16);
                }
            }
        }
    }
    let n_sources = scenario.streams.len() as u32;
    let annot_base = 1 + n_sources + scenario.models.len() as u32;
    let gateway = Gateway {
        http,
        api_key,
        project,
        setup,
        annotator_actors: (0..people.len() as u32).map(|a| ActorId(annot_base + a)).collect(),
        people,
        sources: (1..=n_sources).map(ActorId).collect(),
        hidden: HashMap::new(),
        gold,
        leases: HashMap::new(),
        open: HashSet::new(),
        left_polled: None,
        left_since_us: None,
        busy: HashSet::new(),
        waiting: Vec::new(),
        retries: HashMap::new(),
        off_shift: HashSet::new(),
        task_limit: scenario.run.tasks,
        horizon: if scenario.run.tasks.is_some() { None } else { scenario.run.horizon.map(|h| SimTime(h.0)) },
        created: 0,
        stopped_arrivals: false,
        parent: None,
        error: None,
        speedup: cfg.speedup,
        callback_url: cfg.callback_url.clone(),
        record: match &cfg.record {
            Some(p) => Some(std::fs::OpenOptions::new().create(true).append(true).open(p).with_context(|| format!("opening {}", p.display()))?),
            None => None,
        },
    };
    let mut gateway = Some(Box::new(gateway));
    let mut sim = built.sim.map_actors(|a| match a {
        SimActor::Dispatcher(_) => LoadActor::Gateway(gateway.take().expect("one dispatcher")),
        other => LoadActor::Sim(other),
    });
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut cut_short = false;
    let speedup = cfg.speedup;
    sim.run_paced(|t| {
        let due = Duration::from_secs_f64(t.0 as f64 / 1e6 / speedup);
        if cfg.max_wall.is_some_and(|m| due > m) {
            cut_short = true;
            return false;
        }
        let elapsed = started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
        if cfg.progress && last_progress.elapsed() > Duration::from_secs(5) {
            last_progress = Instant::now();
            eprintln!("loadgen: {:.2} simulated h in {:.0} s", t.0 as f64 / 3.6e9, started.elapsed().as_secs_f64());
        }
        true
    });
    let simulated_h = sim.now().0 as f64 / 3.6e9;
    let LoadActor::Gateway(g) = &mut sim.actors[0] else { unreachable!("actor 0 is the gateway") };
    if let Some(e) = g.error.take() {
        return Err(e.context("loadgen stopped"));
    }
    report(g, started.elapsed().as_secs_f64(), simulated_h, cut_short || !g.open.is_empty())
}

fn report(g: &mut Gateway, wall_s: f64, simulated_h: f64, cut_short: bool) -> Result<LoadgenReport> {
    let mut lat = std::mem::take(&mut g.http.latencies);
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| if lat.is_empty() { 0.0 } else { lat[((lat.len() - 1) as f64 * q).round() as usize] };
    let (http_p50_ms, http_p99_ms, requests) = (pct(0.5), pct(0.99), lat.len() as u64);
    // Final labels and their times, read back from the server.
    let mut right = 0u64;
    let mut finals = 0u64;
    let mut left = 0u64;
    let mut times = Vec::new();
    let hidden = &g.hidden;
    g.http.each_task(g.project, &g.api_key, "", |t| {
        let Some(h) = hidden.get(&t.id) else { return };
        left += u64::from(t.status == "left_unserved");
        if let (Some(label), "final" | "settled") = (t.label, t.status.as_str()) {
            finals += 1;
            right += (label == h.truth) as u64;
            // Simulated time from arrival to the answer that made it final (HTTP latency is
            // no simulated time: the kernel's clock moves only between events).
            if let Some(f) = h.finished {
                times.push(f.since(h.arrived).0 as f64 / 3.6e9);
            }
        }
    })?;
    times.sort_by(f64::total_cmp);
    let mean = (!times.is_empty()).then(|| times.iter().sum::<f64>() / times.len() as f64);
    let p90 = (!times.is_empty()).then(|| times[((times.len() - 1) as f64 * 0.9).round() as usize]);
    Ok(LoadgenReport {
        project_id: g.project,
        tasks_created: g.created,
        tasks_final: finals,
        tasks_left_unserved: left,
        accuracy: (finals > 0).then(|| right as f64 / finals as f64),
        mean_time_in_system_h: mean,
        p90_time_in_system_h: p90,
        requests,
        http_p50_ms,
        http_p99_ms,
        wall_s,
        simulated_h,
        speedup: g.speedup,
        cut_short,
    })
}
