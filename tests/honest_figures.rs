//! Figures that mean what their names say under overload and censoring, and a run whose memory
//! follows the tasks in the system rather than its length.
//!
//! - A censored, overloaded M/M/c run (the horizon ends mid-backlog): every waiting, turnaround
//!   and time-in-system figure of summary.json is recomputed from tasks.csv with the documented
//!   definitions (README, "summary.json"), percentiles included (exact ones against the sketch's
//!   stated 0.5%).
//! - Memory: a stationary run of 30 and of 60 days peaks at the same memory; an overloaded one
//!   (arrivals twice the capacity) finishes both, says it is overloaded, and its peak grows only
//!   with the backlog it carries, at a stated bound per task in the system; overloaded with
//!   queue patience (tasks that leave unserved), its backlog is bounded and 30 and 60 days peak
//!   within 10% of each other.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `tessera simulate mmc.toml` with overrides; returns (stdout, summary.json).
fn simulate(dir: &Path, args: &[&str]) -> (String, serde_json::Value) {
    let mmc = root().join("scenarios/mmc.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_tessera")).arg("simulate").arg(&mmc).args(args).arg("--out").arg(dir).output().unwrap();
    assert!(out.status.success(), "tessera failed: {}", String::from_utf8_lossy(&out.stderr));
    let summary = serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    (String::from_utf8(out.stdout).unwrap(), summary)
}

/// Value of rank ⌊q·(n − 1)⌋ of sorted data (the sketch's definition).
fn rank(sorted: &[f64], q: f64) -> f64 {
    sorted[(q * (sorted.len() as f64 - 1.0)) as usize]
}

fn close(name: &str, got: f64, want: f64, rel: f64) {
    assert!((got - want).abs() <= rel * want.abs().max(1e-9), "{name}: summary {got}, recomputed from tasks.csv {want}");
}

/// The sketch's 0.5%, plus the 1 ms below which it reports 0.
fn close_percentile(name: &str, got: f64, want: f64) {
    assert!((got - want).abs() <= 0.005 * want + 1e-3, "{name}: sketch {got}, exact {want}");
}

#[test]
fn censored_overloaded_run_agrees_with_tasks_csv() {
    let tmp = tempfile::tempdir().unwrap();
    // 200 tasks/h of 3 min on 9 agents (capacity 180/h) for 3 days, 12 h warm-up, 6 h turnaround.
    let sets = ["pools.agents.count=9", "run.horizon=3d", "run.warmup=12h", "run.turnaround=6h", "run.service_level=20s"];
    let mut args = vec!["-q", "-r", "2", "--seed", "5"];
    for s in &sets {
        args.extend(["--set", s]);
    }
    let (_, summary) = simulate(tmp.path(), &args);
    assert_eq!(summary["schema"], "tessera.summary/2");
    assert_eq!(summary["overloaded"], true, "{}", summary["overload"]);
    let notes = summary["overload"].as_array().unwrap();
    assert!(notes.iter().any(|n| n.as_str().unwrap().contains("\"calls\"")), "{notes:?}");

    let mut rdr = csv::Reader::from_path(tmp.path().join("tasks.csv")).unwrap();
    let head = rdr.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap();
    let (crep, carr, cstart, cfinal, ccounted) = (col("replication"), col("arrival_s"), col("first_start_s"), col("final_s"), col("counted"));
    let mut rows: Vec<Vec<(f64, Option<f64>, Option<f64>)>> = vec![Vec::new(), Vec::new()];
    let mut last_id = [-1i64, -1];
    for rec in rdr.records() {
        let rec = rec.unwrap();
        let r: usize = rec[crep].parse().unwrap();
        let id: i64 = rec[col("task")].parse().unwrap();
        assert!(id > last_id[r], "tasks.csv is in task order within a replication");
        last_id[r] = id;
        if &rec[ccounted] != "true" {
            continue;
        }
        let opt = |i: usize| if rec[i].is_empty() { None } else { Some(rec[i].parse::<f64>().unwrap()) };
        rows[r].push((rec[carr].parse().unwrap(), opt(cstart), opt(cfinal)));
    }
    for (r, rows) in rows.iter().enumerate() {
        let run = &summary["runs"][r];
        let f = |k: &str| run[k].as_f64().unwrap_or_else(|| panic!("{k}: {}", run[k]));
        let end = f("window_end_h") * 3600.0;
        let (sl, target) = (20.0, 6.0 * 3600.0);
        let n = rows.len() as f64;
        let done: Vec<_> = rows.iter().filter(|t| t.2.is_some()).collect();
        let never = rows.iter().filter(|t| t.1.is_none()).count();
        assert_eq!(f("arrivals"), n);
        assert_eq!(f("completions"), done.len() as f64);
        assert_eq!(f("unfinished"), n - done.len() as f64);
        assert_eq!(f("never_started"), never as f64);
        assert!(never > 1000, "the horizon ends mid-backlog: {never} tasks never started");

        // Waiting: never-started tasks waited until the end.
        let mut waits: Vec<f64> = rows.iter().map(|&(a, s, _)| s.unwrap_or(end) - a).collect();
        close("p_wait_to_start", f("p_wait_to_start"), waits.iter().filter(|&&w| w > 0.0).count() as f64 / n, 1e-12);
        close("wait_to_start_s.mean", run["wait_to_start_s"]["mean"].as_f64().unwrap(), waits.iter().sum::<f64>() / n, 1e-9);
        let known = rows.iter().filter(|&&(a, s, _)| s.is_some() || end - a >= sl).count() as f64;
        let met = rows.iter().filter(|&&(a, s, _)| s.is_some_and(|s| s - a < sl)).count() as f64;
        close("start_within_target", f("start_within_target"), met / known, 1e-12);
        // Turnaround: open tasks older than the target are late; younger ones are not known yet.
        let known = rows.iter().filter(|&&(a, _, e)| e.is_some() || end - a > target).count() as f64;
        let met = rows.iter().filter(|&&(a, _, e)| e.is_some_and(|e| e - a <= target + 1e-9)).count() as f64;
        close("completion_within_target", f("completion_within_target"), met / known, 1e-12);
        close("streams.calls.completion_within_target", run["streams"]["calls"]["completion_within_target"].as_f64().unwrap(), met / known, 1e-12);
        // Time in system: over completed tasks, and over every arrival with open tasks at their age.
        let mut tis: Vec<f64> = done.iter().map(|t| t.2.unwrap() - t.0).collect();
        let mut censored: Vec<f64> = rows.iter().map(|&(a, _, e)| e.unwrap_or(end) - a).collect();
        close("time_in_system_s.mean", run["time_in_system_s"]["mean"].as_f64().unwrap(), tis.iter().sum::<f64>() / tis.len() as f64, 1e-9);
        close("time_in_system_censored_s.mean", run["time_in_system_censored_s"]["mean"].as_f64().unwrap(), censored.iter().sum::<f64>() / n, 1e-9);
        for v in [&mut waits, &mut tis, &mut censored] {
            v.sort_by(f64::total_cmp);
        }
        for (q, k) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
            close_percentile(&format!("wait_to_start_s.{k}"), run["wait_to_start_s"][k].as_f64().unwrap(), rank(&waits, q));
            close_percentile(&format!("time_in_system_s.{k}"), run["time_in_system_s"][k].as_f64().unwrap(), rank(&tis, q));
            close_percentile(&format!("time_in_system_censored_s.{k}"), run["time_in_system_censored_s"][k].as_f64().unwrap(), rank(&censored, q));
        }
        // Cost adds up.
        let c = &run["cost"];
        let parts: f64 = ["labeling", "gold", "review", "idle"].iter().map(|k| c[format!("per_final_label_{k}_usd")].as_f64().unwrap()).sum();
        close("cost split", parts, c["per_final_label_usd"].as_f64().unwrap(), 1e-9);
        close("productive + idle", c["productive_usd"].as_f64().unwrap() + c["idle_paid_usd"].as_f64().unwrap(), c["total_usd"].as_f64().unwrap(), 1e-9);
        let servable = run["streams"]["calls"]["servable_share"].as_f64().unwrap();
        close("servable share = capacity / offered load", servable, 180.0 / 200.0, 0.02);
    }
}

/// Peak memory [bytes] that `tessera simulate` reports, and the tasks open at the end.
///
/// The peak is the least of `RUNS` runs of the same (deterministic) simulation. One run's peak
/// also holds what its threads happened to have in flight at that moment (tasks.csv batches
/// between the formatter and the writer, malloc arenas of the pool's threads): on a busy machine
/// that alone moved a 30-day peak from 12.2 to 14.5 MB. What a run keeps because of its length or
/// its backlog is in every run's peak, so the least of a few is the run's own memory.
fn peak(dir: &Path, sets: &[&str]) -> (f64, f64, serde_json::Value) {
    const RUNS: usize = 3;
    let mut args = vec!["--tasks", "csv"];
    for s in sets {
        args.extend(["--set", s]);
    }
    let mut least = f64::INFINITY;
    let mut last = serde_json::Value::Null;
    for _ in 0..RUNS {
        let (stdout, summary) = simulate(dir, &args);
        let mb: f64 = stdout.split("peak memory ").nth(1).and_then(|s| s.split(' ').next()).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no peak memory in {stdout}"));
        least = least.min(mb * 1e6);
        last = summary;
    }
    (least, last["figures"]["unfinished"]["mean"].as_f64().unwrap(), last)
}

/// Bytes a task in the system may cost at most (core view and record, books, queue, reorder
/// buffer of tasks.csv), and a fixed allowance for the binary and its buffers.
const PER_TASK_BYTES: f64 = 1000.0;
const BASE_BYTES: f64 = 24e6;

/// Arrivals in `days` of mmc.toml (200 an hour).
fn arrivals(days: f64) -> f64 {
    200.0 * 24.0 * days
}

#[test]
fn memory_follows_the_tasks_in_the_system_not_the_run_length() {
    let tmp = tempfile::tempdir().unwrap();
    // Stationary: 30 and 240 days of M/M/14 peak within the threads' jitter of each other. A
    // run that kept 8 bytes per arrival would be 8 MB over: the ~1,000,000 arrivals between.
    let (short, long) = (30.0, 240.0);
    let (short_run, long_run) = (format!("run.horizon={short}d"), format!("run.horizon={long}d"));
    // Two runs of one simulation may peak this far apart: what tasks.csv holds between its
    // threads at a run's peak depends on how they were scheduled (on a busy 2-core machine a
    // 30-day run peaked at 14.5 MB, a 60-day one at 12.8 MB). About 8 MB.
    let allowed = tessera_reports::tasks_thread::HELD_AT_MOST_BYTES as f64;
    assert!(allowed / (arrivals(long) - arrivals(short)) <= 8.5, "the test tells 8 bytes an arrival from jitter");
    let (m30, _, _) = peak(&tmp.path().join("s30"), &[&short_run]);
    let (m240, _, s240) = peak(&tmp.path().join("s240"), &[&long_run]);
    assert_eq!(s240["overloaded"], false);
    assert!((m240 - m30).abs() <= allowed, "stationary: {short} days {m30} B, {long} days {m240} B (jitter up to {allowed} B)");
    assert!(m240 <= BASE_BYTES, "stationary: {m240} B");

    // Overloaded: 5 agents serve 100 of the 200 tasks/h. Both finish and say so; the backlog
    // (tasks in the system) doubles from 30 to 60 days and memory follows it, not the run.
    let (o30, open30, s30) = peak(&tmp.path().join("o30"), &["pools.agents.count=5", "run.horizon=30d"]);
    let (o60, open60, s60) = peak(&tmp.path().join("o60"), &["pools.agents.count=5", "run.horizon=60d"]);
    for s in [&s30, &s60] {
        assert_eq!(s["overloaded"], true);
        let share = s["figures"]["servable_share"]["mean"].as_f64().unwrap();
        assert!((share - 0.5).abs() < 0.01, "servable share {share}");
    }
    assert!(open60 > 1.8 * open30, "the backlog grows: {open30} then {open60} tasks open");
    for (m, open, d) in [(o30, open30, 30), (o60, open60, 60)] {
        assert!(m <= BASE_BYTES + PER_TASK_BYTES * open, "{d} days: {m} B for {open} tasks in the system");
    }
    let per_task = (o60 - o30) / (open60 - open30);
    assert!(per_task <= PER_TASK_BYTES, "memory grew {per_task} B per extra task in the system");

    // Overloaded, with queue patience (tasks leave after 2 h unstarted, exponential): the
    // backlog no longer grows with the run, so neither does memory: 30 and 240 days peak within
    // the threads' jitter of each other, and the output still says the workforce is overloaded.
    let patient = ["pools.agents.count=5", "streams.calls.patience={ exponential = { mean = \"2h\" } }"];
    let (p30, _, s30) = peak(&tmp.path().join("p30"), &[patient[0], patient[1], &short_run]);
    let (p240, _, s240) = peak(&tmp.path().join("p240"), &[patient[0], patient[1], &long_run]);
    for s in [&s30, &s240] {
        assert_eq!(s["overloaded"], true);
        let left = s["figures"]["p_left_unserved"]["mean"].as_f64().unwrap();
        assert!((0.4..0.6).contains(&left), "about half the arrivals leave unserved: {left}");
    }
    assert!((p240 - p30).abs() <= allowed, "overloaded with patience: {short} days {p30} B, {long} days {p240} B (jitter up to {allowed} B)");
    assert!(p240 <= BASE_BYTES, "overloaded with patience: {p240} B");
}

/// A workflow graph whose people stages are all gated (detector-in-the-loop: a model's
/// confidence sends images to the crowd, a lower one to QA): the fluid bound counts those stages
/// at the entries the run measured, so two crowd annotators for 3,000 images an hour are said to
/// be overloaded (they were not, when only a stage every task surely reaches counted), and the
/// shipped six are not; the bound's pool loads stay under the pools' measured busy shares.
#[test]
fn a_gated_workflow_graph_says_when_it_is_overloaded() {
    let tmp = tempfile::tempdir().unwrap();
    let run = |crowd: &str| -> serde_json::Value {
        let dir = tmp.path().join(crowd);
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .arg("simulate")
            .arg(root().join("scenarios/detector-in-the-loop.toml"))
            .args(["-q", "--tasks", "none", "--set", &format!("pools.crowd.count={crowd}"), "--set", "run.horizon=\"3d\"", "--out"])
            .arg(&dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
    };
    let over = run("2");
    assert_eq!(over["overloaded"], true, "{}", over["overload"]);
    let r = &over["runs"][0];
    assert!(r["streams"]["images"]["servable_share"].as_f64().unwrap() < 0.95, "{}", r["streams"]["images"]);
    assert!(r["streams"]["images"]["unfinished"].as_u64().unwrap() > 10_000);
    let shipped = run("6");
    assert_eq!(shipped["overloaded"], false, "{}", shipped["overload"]);
    for (name, pool) in shipped["runs"][0]["pools"].as_object().unwrap() {
        let (fluid, busy) = (pool["fluid_load"].as_f64().unwrap(), pool["utilization"]["busy"].as_f64().unwrap());
        assert!(fluid > 0.0 && fluid <= busy, "pool {name}: the bound's load {fluid} against a measured busy share of {busy}");
    }
}
