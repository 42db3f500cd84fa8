//! `tessera loadgen`: plays a scenario's synthetic workforce against a running `tessera serve`.

use anyhow::{Context, Result};
use clap::Args;
use std::path::PathBuf;

pub const LONG_ABOUT: &str = "Play a scenario against a running server: its task sources create tasks over HTTP (keeping \
the hidden true labels to themselves; only golden tasks' known answers are sent), and its synthetic annotators (speed, \
accuracy, learning, fatigue, shifts, walk-aways) lease and answer work as HTTP clients, on the simulation's own actors, \
paced by the wall clock at --speedup simulated seconds per second. It is the load generator for tests and benchmarks, and a \
rehearsal of a change before making it in production.

The run creates a project from the scenario (its simulation-only sections dropped) under a tenant: pass the tenant's key \
in TESSERA_API_KEY, or the admin key in TESSERA_ADMIN_KEY to create one. It stops once arrivals are over (at `run.tasks` \
or the scenario's horizon) and every task is final or has left unserved (queue patience), or at --max-wall. At the end it reads the final labels back and prints accuracy \
against the hidden truth, time in system (simulated hours) and HTTP latency, as a table or JSON.

Choose a speed-up the server and this machine keep up with: HTTP latency counts as simulated time multiplied by it.";

#[derive(Args, Debug)]
pub struct LoadgenArgs {
    /// Scenario file (TOML)
    pub scenario: PathBuf,
    /// The server's base URL; several nodes sharing one PostgreSQL database comma-separated
    /// (http://a:8080,http://b:8080): people are spread over them and move on when theirs is down
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Simulated seconds per wall-clock second
    #[arg(long, default_value_t = 60.0)]
    pub speedup: f64,
    /// Seed of the synthetic workforce and arrivals (and of the project's core)
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop after this many wall-clock seconds
    #[arg(long)]
    pub max_wall: Option<f64>,
    /// Override a scenario field, as in `tessera simulate` (repeatable)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Ask for a webhook of every final label at this URL
    #[arg(long)]
    pub callback_url: Option<String>,
    /// Append every acknowledged answer to this file (JSON lines)
    #[arg(long)]
    pub record: Option<PathBuf>,
    /// Output: a table, or one JSON object
    #[arg(long, value_enum, default_value_t = super::Format::Table)]
    pub format: super::Format,
}

pub fn run(a: LoadgenArgs) -> Result<()> {
    let scenario = super::load_scenario(&a.scenario, &a.set)?;
    let text = std::fs::read_to_string(&a.scenario).with_context(|| format!("reading {}", a.scenario.display()))?;
    let text = if a.set.is_empty() { text } else { tessera_scenarios::apply_overrides(&text, &a.scenario.display().to_string(), &a.set).map_err(|e| anyhow::anyhow!("{e}"))? };
    let cfg = tessera_live::loadgen::LoadgenConfig {
        server: a.server,
        admin_key: std::env::var("TESSERA_ADMIN_KEY").ok().filter(|k| !k.is_empty()),
        api_key: std::env::var("TESSERA_API_KEY").ok().filter(|k| !k.is_empty()),
        speedup: a.speedup,
        seed: a.seed,
        max_wall: a.max_wall.map(std::time::Duration::from_secs_f64),
        progress: a.format == super::Format::Table,
        callback_url: a.callback_url,
        record: a.record,
    };
    let r = tessera_live::loadgen::run(&scenario, &text, &cfg)?;
    match a.format {
        super::Format::Json => println!("{}", serde_json::to_string(&r)?),
        super::Format::Table => {
            let f = |x: Option<f64>, d: usize| x.map_or("n/a".to_string(), |v| format!("{v:.d$}"));
            let left = if r.tasks_left_unserved > 0 { format!(", {} left unserved", r.tasks_left_unserved) } else { String::new() };
            println!("project {}: {} tasks created, {} final{left}{}", r.project_id, r.tasks_created, r.tasks_final, if r.cut_short { " (cut short: not every task is final or gone)" } else { "" });
            println!("accuracy                {}", f(r.accuracy, 4));
            println!("time in system, mean    {} h (simulated)", f(r.mean_time_in_system_h, 3));
            println!("time in system, p90     {} h (simulated)", f(r.p90_time_in_system_h, 3));
            println!("HTTP requests           {} (p50 {:.2} ms, p99 {:.2} ms)", r.requests, r.http_p50_ms, r.http_p99_ms);
            println!("ran                     {:.2} simulated h in {:.1} s at speed-up {}", r.simulated_h, r.wall_s, r.speedup);
        }
    }
    Ok(())
}
