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
}

pub fn run(a: ServeArgs) -> Result<()> {
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| "info".into())).with_writer(std::io::stderr).try_init();
    let schedule = tessera_live::webhooks::parse_schedule(&a.webhook_schedule).map_err(|e| anyhow::anyhow!("--webhook-schedule: {e}"))?;
    if !(a.webhook_timeout > 0.0 && a.webhook_timeout <= 300.0) {
        anyhow::bail!("--webhook-timeout: expected between 0 and 300 seconds");
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
        clock: Arc::new(tessera_live::clock::SystemClock),
        queue: a.queue.clone(),
    };
    tessera_live::server::serve(cfg, |addr, _| {
        println!("listening on http://{addr}");
    })
    .with_context(|| format!("serving {}", tessera_live::store::postgres::redact(&a.db)))
}
