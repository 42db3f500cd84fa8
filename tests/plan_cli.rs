//! `tessera plan` end to end: a plan that meets its targets in simulation at the CI bounds, with
//! predicted cost and throughput within 5% of the simulated ones, written as a runnable
//! scenario; targets out of reach named with how far they are.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

fn scenario(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios").join(name).display().to_string()
}

fn plan(dir: &Path, args: &[&str]) -> (Output, Option<serde_json::Value>) {
    let out = tessera().arg("plan").args(args).args(["-q", "-o"]).arg(dir).output().unwrap();
    let json = std::fs::read_to_string(dir.join("plan.json")).ok().map(|t| serde_json::from_str(&t).unwrap());
    (out, json)
}

#[test]
fn mmc_plan_meets_its_targets_and_predicts_cost_and_throughput() {
    let d = tempfile::tempdir().unwrap();
    let (out, json) = plan(d.path(), &[&scenario("mmc.toml"), "--target-accuracy", "0.9", "--within", "2d"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j = json.unwrap();
    assert_eq!(j["met"], true, "{j}");
    let last = j["rounds"].as_array().unwrap().last().unwrap();
    for v in last["verdicts"].as_array().unwrap() {
        assert!(v["met"].as_bool().unwrap() && v["ci95_low"].as_f64().unwrap() >= v["goal"].as_f64().unwrap(), "{v}");
    }
    let predicted = last["solved"]["cost_week"].as_f64().unwrap();
    let simulated = last["simulated_cost_week"][0].as_f64().unwrap();
    assert!((simulated / predicted - 1.0).abs() < 0.05, "cost: predicted {predicted}, simulated {simulated}");
    let tp = last["solved"]["throughput"][0].as_f64().unwrap();
    let sim_tp = last["simulated_throughput"][0].as_f64().unwrap();
    assert!((sim_tp / tp - 1.0).abs() < 0.05, "throughput: predicted {tp}, simulated {sim_tp}");
    // The plan is a scenario that runs as it is.
    let run = tessera().args(["simulate"]).arg(d.path().join("plan.toml")).args(["-q", "--tasks", "none", "-o"]).arg(d.path().join("sim")).output().unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = std::fs::read_to_string(d.path().join("plan.toml")).unwrap();
    assert!(text.contains("# Written by `tessera plan`") && text.contains("overlap = "), "{text}");
}

#[test]
fn targets_out_of_reach_are_named_with_the_gap() {
    let d = tempfile::tempdir().unwrap();
    // One label per task cannot reach 99.9% with annotators right 90% of the time.
    let (out, json) = plan(d.path(), &[&scenario("mmc.toml"), "--target-accuracy", "0.999", "--within", "2d", "--levels", "1"]);
    assert!(out.status.success());
    let j = json.unwrap();
    assert_eq!(j["met"], false);
    let why = j["infeasible"].as_str().unwrap();
    assert!(why.contains("stream \"calls\"") && why.contains("9.9 points out of reach"), "{why}");
    // Weekday shifts cannot finish 95% of round-the-clock arrivals within 2 days.
    let (out, json) = plan(d.path(), &[&scenario("lidar-cuboids.toml"), "--target-accuracy", "0.8", "--within", "2d"]);
    assert!(out.status.success());
    let why = json.unwrap()["infeasible"].as_str().unwrap().to_string();
    assert!(why.contains("shift calendars") && why.contains("within 2d"), "{why}");
    // Bad arguments are refused before any work.
    let (out, _) = plan(&d.path().join("x"), &[&scenario("mmc.toml"), "--target-accuracy", "1.5", "--within", "2d"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--target-accuracy"));
    let (out, _) = plan(&d.path().join("x"), &[&scenario("mmc.toml"), "--target-accuracy", "0.9", "--within", "48"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no unit"));
}
