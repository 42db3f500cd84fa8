//! `tessera serve`: the live dispatch server (tessera-live) on a SQLite file or a shared PostgreSQL database.

use anyhow::{Context, Result};
use clap::Args;
use std::sync::Arc;

pub const LONG_ABOUT: &str = "Run the live dispatch server: clients create tasks over HTTP, people lease work chosen by the \
project's routing policy and answer it, and final labels go back by signed webhook. Decisions are the same decision core \
`tessera simulate` runs; the store is the source of truth, and an answer is durable before the server acknowledges it. \
The store is a SQLite file (WAL, synchronous=FULL) for one process, or a PostgreSQL database (--db postgres://...) that any \
number of `serve` processes share behind a load balancer: they decide in turns over one command log, so their decisions \
are those one process would take, and killing any of them loses nothing.

Getting started:
  TESSERA_ADMIN_KEY=$(openssl rand -hex 32) tessera serve --db ops.db --listen 127.0.0.1:8080
  curl -H \"Authorization: Bearer $TESSERA_ADMIN_KEY\" -d '{\"name\":\"acme\"}' localhost:8080/v1/tenants
  # then, with the tenant's api_key: POST /v1/projects {\"name\":..., \"settings\": <scenario TOML>}, POST tasks,
  # register people, and let them POST /v1/annotators/{id}/next and .../submit
  # several nodes on PostgreSQL (the schema is created and migrated at start):
  tessera serve --db postgres://tessera:secret@db.internal/tessera --listen 0.0.0.0:8080

Drift: `--drift NAME=drift.json` runs the tests of a `tessera drift --out` report over every project called NAME as \
its events are decided (its log replayed through a core of its own, behind the writer), and puts each test's statistic, \
threshold and alarms on /metrics (tessera_drift_*; deploy/prometheus/tessera-drift.rules.yml alerts on them):
  tessera drift last-month.jsonl --against twin.toml --out drift.json
  tessera serve --db ops.db --drift ops=drift.json

The API is described at GET /v1/openapi.json (OpenAPI 3). Metrics: GET /metrics (Prometheus). Stop with SIGTERM or Ctrl-C:
requests in flight finish and every acknowledged write is kept.";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The store: a SQLite file (created if missing), or a PostgreSQL URL postgres://user:password@host:port/database
    /// shared by several nodes. Either way the cores are rebuilt from it at start
    #[arg(long, default_value = "tessera.db")]
    pub db: String,
    /// Address to listen on (port 0 picks a free port; the address is printed)
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Webhook retry delays, comma-separated (units ms, s, m, h). Default: Svix's schedule, about 28 h in all
    #[arg(long, default_value = "5s,5m,30m,2h,5h,10h,10h")]
    pub webhook_schedule: String,
    /// [s] timeout of one webhook delivery attempt
    #[arg(long, default_value_t = 15.0)]
    pub webhook_timeout: f64,
    /// HTTP worker threads (default: one per core)
    #[arg(long)]
    pub workers: Option<usize>,
    /// A NATS server with JetStream (nats://host:4222): tasks also arrive from the stream TESSERA_TASKS
    /// (subject tessera.tasks.<project id>, body as POST .../tasks), acknowledged once created, and every final
    /// label is published to TESSERA_LABELS (subject tessera.labels.<project id>, Nats-Msg-Id tessera-label-<task>-<n>)
    #[arg(long)]
    pub queue: Option<String>,
    /// Watch projects for drift: NAME=REPORT runs the tests of REPORT (the --out of `tessera drift`) over every
    /// project called NAME, hour by hour as its events are decided, with gauges on /metrics. Repeatable
    #[arg(long, value_name = "NAME=REPORT")]
    pub drift: Vec<String>,
    /// The server is a rehearsal driven by `tessera loadgen --speedup K`: its clock runs K times as fast as the wall
    /// clock, so leases, queue patience, deadlines and every window it times run at the scenario's pace, and its
    /// traces are in the scenario's time (header clock "rehearsal", speedup K; days start on a Monday 00:00 at a
    /// project's first event when fitted). One node and one process only: a restarted rehearsal server starts its clock
    /// again from the wall clock, behind the times it stored. Webhook signatures and retries stay on the wall clock
    #[arg(long, value_name = "K")]
    pub rehearsal_speedup: Option<f64>,
}

pub fn run(a: ServeArgs) -> Result<()> {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| "info".into())).with_writer(std::io::stderr).try_init();
    let schedule = tessera_live::webhooks::parse_schedule(&a.webhook_schedule).map_err(|e| anyhow::anyhow!("--webhook-schedule: {e}"))?;
    if !(a.webhook_timeout > 0.0 && a.webhook_timeout <= 300.0) {
        anyhow::bail!("--webhook-timeout: expected between 0 and 300 seconds");
    }
    if a.rehearsal_speedup.is_some_and(|k| !(k > 0.0 && k <= 1e6)) {
        anyhow::bail!("--rehearsal-speedup {}: expected simulated seconds per second above 0 and at most 10^6", a.rehearsal_speedup.unwrap_or_default());
    }
    let mut monitors = Vec::new();
    for d in &a.drift {
        let Some((name, path)) = d.split_once('=').filter(|(n, p)| !n.is_empty() && !p.is_empty()) else {
            anyhow::bail!("--drift {d:?}: expected NAME=REPORT, a project name and a `tessera drift --out` file");
        };
        let report = super::drift::load_monitor(std::path::Path::new(path)).with_context(|| format!("--drift {d}"))?;
        monitors.push((name.to_string(), report));
    }
    let admin_key = std::env::var("TESSERA_ADMIN_KEY").ok().filter(|k| !k.is_empty());
    if admin_key.as_ref().is_some_and(|k| k.len() < 16) {
        anyhow::bail!("TESSERA_ADMIN_KEY is shorter than 16 characters; use a random key (e.g. `openssl rand -hex 32`)");
    }
    if admin_key.is_none() {
        eprintln!("note: TESSERA_ADMIN_KEY is not set, so no tenant can be created; existing tenants' keys work");
    }
    let cfg = tessera_live::server::ServeConfig {
        db: a.db.clone(),
        listen: a.listen.clone(),
        admin_key,
        delivery: tessera_live::webhooks::DeliveryConfig { schedule, timeout: a.webhook_timeout, ..Default::default() },
        workers: a.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        clock: match a.rehearsal_speedup {
            Some(k) => Arc::new(tessera_live::clock::ScaledClock::new(k)),
            None => Arc::new(tessera_live::clock::SystemClock),
        },
        queue: a.queue.clone(),
        drift: tessera_live::drift::DriftConfig { monitors, speedup: None, lag: std::time::Duration::from_secs(2) },
        rehearsal_speedup: a.rehearsal_speedup,
    };
    tessera_live::server::serve(cfg, |addr, _| {
        println!("listening on http://{addr}");
    })
    .with_context(|| format!("serving {}", tessera_live::store::postgres::redact(&a.db)))
}
