//! Hostile input to `tessera simulate` (issue 9): every case found by hand or by fuzzing gets a
//! clear error naming where and what, or a correct result; no run hangs, wraps an integer,
//! aborts in an allocation, or writes outside its output folder. The aggregate and bench cases
//! are in `hostile_aggregate.rs`; the fuzzer (`fuzz/`) keeps finding new ones in CI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

fn mmc() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/mmc.toml")
}

fn simulate(dir: &Path, args: &[&str]) -> Output {
    tessera().current_dir(dir).arg("simulate").args(args).args(["-q"]).output().unwrap()
}

/// A failure with status 1, a message that contains every `needles`, no panic, and not too long.
fn rejected(out: Output, needles: &[&str]) -> String {
    let e = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "expected an error, got status {:?}: {e}", out.status);
    assert!(!e.contains("panicked") && !e.contains("memory allocation"), "{e}");
    for n in needles {
        assert!(e.contains(n), "expected {n:?} in the error: {e}");
    }
    assert!(e.len() < 4000, "an error of {} bytes", e.len());
    e
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn summary(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
}

fn mean(s: &serde_json::Value, field: &str) -> f64 {
    s["figures"][field]["mean"].as_f64().unwrap_or(f64::NAN)
}

const ABANDON: &str = r#"
[run]
tasks = 100
[[streams]]
name = "s"
task_type = "classification"
arrivals = { poisson = { per_hour = 100 } }
[[pools]]
name = "p"
count = 5
abandonment = { probability = 1.0, timeout = "1min" }
"#;

#[test]
fn a_run_that_cannot_progress_stops_and_says_why() {
    let d = tmp();
    std::fs::write(d.path().join("abandon.toml"), ABANDON).unwrap();
    let out = simulate(d.path(), &["abandon.toml", "-o", "res"]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "a stopped run exits with 3: {e}");
    assert!(e.contains("walked away") && e.contains("100 of 100 tasks unfinished") && e.contains("abandonment"), "{e}");
    let s = summary(&d.path().join("res"));
    let stops = s["stopped"].as_array().unwrap();
    assert_eq!(stops.len(), 1);
    assert!(stops[0]["reason"].as_str().unwrap().contains("no task became final for 30d"));
    assert_eq!(mean(&s, "arrivals"), 100.0);
    assert_eq!(mean(&s, "unfinished"), 100.0);
    // The same scenario with a pool that finishes its work runs to the end (exit 0, no stop).
    let out = simulate(d.path(), &["abandon.toml", "-o", "res2", "--set", "pools.p.abandonment.probability=0.3"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&d.path().join("res2"));
    assert_eq!(s["stopped"].as_array().unwrap().len(), 0);
    assert_eq!(mean(&s, "completions"), 100.0);
}

#[test]
fn durations_need_units_and_stay_in_range() {
    let d = tmp();
    let m = mmc();
    let m = m.to_str().unwrap();
    rejected(simulate(d.path(), &[m, "--set", "run.horizon=18446744073710"]), &["--set run.horizon=18446744073710", "needs a unit", "\"7d\""]);
    rejected(simulate(d.path(), &[m, "--set", "run.horizon=100"]), &["needs a unit"]);
    rejected(simulate(d.path(), &[m, "--set", "run.horizon=\"12\""]), &["has no unit"]);
    rejected(simulate(d.path(), &[m, "--set", "run.horizon=1e400d"]), &["out of range", "100 years"]);
    rejected(simulate(d.path(), &[m, "--set", "run.horizon=1000w"]), &["run.horizon", "ten years"]);
    // "m" is a minute: 90 minutes of arrivals.
    let out = simulate(d.path(), &[m, "--set", "run.horizon=90m", "--set", "run.warmup=0s", "--tasks", "none", "-o", "r"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mean(&summary(&d.path().join("r")), "window_end_h"), 1.5);
}

#[test]
fn values_too_big_for_the_machine_are_refused_with_the_limit() {
    let d = tmp();
    let m = mmc();
    let m = m.to_str().unwrap();
    rejected(simulate(d.path(), &[m, "--replications", "1000000000"]), &["at most 10000 replications"]);
    rejected(simulate(d.path(), &[m, "--set", "run.replications=1000000000"]), &["run.replications", "at most 10000"]);
    rejected(simulate(d.path(), &[m, "--set", "pools.agents.count=100000000"]), &["pools[0].count", "at most 1000000 annotators", "100000000"]);
    rejected(simulate(d.path(), &[m, "--set", "streams.calls.arrivals.poisson.per_hour=1e9"]), &["--set streams.calls.arrivals", "at most 1000000000"]);
    rejected(simulate(d.path(), &[m, "--set", "streams.calls.arrivals={ batch = { size = 1000000000, every = \"1h\" } }"]), &["arrivals.batch.size", "at most 1000000 tasks per batch"]);
    rejected(simulate(d.path(), &[m, "--set", "run.tasks=100000000000"]), &["run.tasks", "at most 1000000000"]);
    rejected(simulate(d.path(), &[m, "--set", "pools.agents.speed_sigma=100"]), &["speed_sigma", "at most 4"]);
    rejected(simulate(d.path(), &[m, "--set", "pools.agents.service.classification={ lognormal = { median = \"3min\", sigma = 50 } }"]), &["lognormal.sigma", "at most 4"]);
    // Allowed but not meant: a warning with the reason, and the run goes on.
    let out = tessera().current_dir(d.path()).args(["simulate", m, "--set", "pools.agents.speed_sigma=2.5", "--set", "run.horizon=1d", "--set", "run.warmup=0s", "--tasks", "none", "-o", "w"]).output().unwrap();
    assert!(out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("warning:") && e.contains("speed_sigma") && e.contains("times the median"), "{e}");
}

#[test]
fn huge_names_and_files_are_refused_without_echoing_them() {
    let d = tmp();
    let name = "x".repeat(1 << 20);
    std::fs::write(d.path().join("long.toml"), format!("[[streams]]\nname = \"{name}\"\n[[pools]]\n")).unwrap();
    let e = rejected(simulate(d.path(), &["long.toml"]), &["long.toml:2:8", "streams[0].name", "at most 128 characters"]);
    assert!(!e.contains(&"x".repeat(300)));
    let name = "x".repeat(50 << 20);
    std::fs::write(d.path().join("huge.toml"), format!("[[streams]]\nname = \"{name}\"\n[[pools]]\n")).unwrap();
    rejected(simulate(d.path(), &["huge.toml"]), &["huge.toml", "at most 16777216"]);
    rejected(simulate(d.path(), &["long.toml", "--set", "streams.0.name=\"a\nb\""]), &["control character"]);
}

#[test]
fn output_folders_stay_inside_out_and_hold_no_stale_files() {
    let d = tmp();
    let work = d.path().join("a/b");
    std::fs::create_dir_all(&work).unwrap();
    let m = mmc();
    let m = m.to_str().unwrap();
    let short = ["--set", "run.horizon=1d", "--set", "run.warmup=0s"];
    for (name, folder) in [("\"../../escaped\"", "_.._escaped"), ("\"/tmp/abs\"", "_tmp_abs"), ("\"..\"", "scenario"), ("\"night shift #2\"", "night_shift__2")] {
        let set = format!("name={name}");
        let out = simulate(&work, &[m, "--set", &set, short[0], short[1], short[2], short[3]]);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(work.join("out").join(folder).join("summary.json").exists(), "{name} → out/{folder}");
    }
    assert!(!d.path().join("escaped").exists() && !Path::new("/tmp/abs/summary.json").exists());
    rejected(simulate(&work, &[m, "--set", "name=\"\""]), &["name", "empty"]);
    // A trace from an earlier run does not stay beside new results, nor does tasks.csv.
    let out = simulate(&work, &[m, short[0], short[1], short[2], short[3], "--trace", "-o", "r"]);
    assert!(out.status.success());
    assert!(work.join("r/events.jsonl").exists() && work.join("r/tasks.csv").exists());
    let out = simulate(&work, &[m, short[0], short[1], short[2], short[3], "--tasks", "none", "-o", "r"]);
    assert!(out.status.success());
    assert!(!work.join("r/events.jsonl").exists() && !work.join("r/tasks.csv").exists());
}

#[test]
fn overrides_switch_modes_unset_fields_and_never_reset_tables() {
    let d = tmp();
    let m = mmc();
    let m = m.to_str().unwrap();
    // run.tasks replaces the file's run.horizon (and the other way round).
    let out = simulate(d.path(), &[m, "--set", "run.tasks=50", "--set", "run.warmup=0s", "--tasks", "none", "-o", "t"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let s = summary(&d.path().join("t"));
    assert_eq!((mean(&s, "arrivals"), mean(&s, "completions")), (50.0, 50.0));
    // --unset removes a field (warmup back to its default, 0s: the window starts at 0).
    let out = simulate(d.path(), &[m, "--unset", "run.warmup", "--set", "run.horizon=1d", "--tasks", "none", "-o", "u"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mean(&summary(&d.path().join("u")), "window_start_h"), 0.0);
    rejected(simulate(d.path(), &[m, "--unset", "run.nosuch"]), &["--unset run.nosuch", "not in the scenario"]);
    rejected(simulate(d.path(), &[m, "--set", "run={}"]), &["--set run={}", "whole table", "--unset run"]);
    rejected(simulate(d.path(), &[m, "--set", "pools={}"]), &["list of tables"]);
}

#[test]
fn the_memory_guard_stops_a_growing_run_and_keeps_its_partial_results() {
    // Overloaded M/M/5 (arrivals twice the capacity): memory grows with the backlog, about 0.5 KB
    // per waiting task; a 60-day run reaches ~75 MB. A 40 MB limit stops it part way.
    let d = tmp();
    let m = mmc();
    let out = tessera()
        .current_dir(d.path())
        .args(["simulate", m.to_str().unwrap(), "--set", "pools.agents.count=5", "--set", "run.horizon=60d", "--tasks", "none", "--max-memory", "40MB", "-q", "-o", "r"])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{e}");
    assert!(e.contains("memory limit reached") && e.contains("--max-memory"), "{e}");
    let s = summary(&d.path().join("r"));
    let stop = &s["stopped"][0];
    assert!(stop["reason"].as_str().unwrap().contains("memory limit"));
    let at_h = stop["at_s"].as_f64().unwrap() / 3600.0;
    assert!(at_h > 24.0 && at_h < 60.0 * 24.0, "stopped at {at_h} h");
    // The figures are censored where it stopped: the window ends there.
    assert!((mean(&s, "window_end_h") - at_h).abs() < 1e-6, "{} vs {at_h}", mean(&s, "window_end_h"));
    assert!(mean(&s, "unfinished") > 1000.0);
    rejected(tessera().args(["simulate", m.to_str().unwrap(), "--max-memory", "lots"]).output().unwrap(), &["--max-memory", "memory size"]);
}
