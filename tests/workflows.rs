//! Workflow graphs end to end, through the binary: the chain syntax and the same chain written as
//! `stages` give byte-identical runs; a branch whose condition never fires changes nothing but
//! its own (empty) row of stage figures; Little's law holds per stage; a scene's check starts only
//! once its keyframes are final; and every kind of broken graph is refused with file:line and the
//! stage named.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Two replications unless `extra` says how many.
fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    let reps: &[&str] = if extra.contains(&"-r") { &[] } else { &["-r", "2"] };
    tessera().arg("simulate").arg(scenario).args(["-q", "--trace", "--seed", "5", "--out"]).arg(out).args(reps).args(extra).output().unwrap()
}

fn ok(out: Output) {
    assert!(out.status.success(), "tessera failed: {}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
}

fn err(out: Output) -> String {
    assert!(!out.status.success(), "expected a failure, got: {}", String::from_utf8_lossy(&out.stdout));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(!e.contains("panicked"), "panicked: {e}");
    e
}

fn read(dir: &Path, f: &str) -> Vec<u8> {
    std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
}

fn summary(dir: &Path) -> Value {
    serde_json::from_slice(&read(dir, "summary.json")).unwrap()
}

/// A pipeline with everything the chain syntax can say: a model, dynamic overlap with weighted
/// aggregation, review of a sample and of low-confidence labels with rework, golden tasks and a
/// ban rule that re-opens labels. `{WORKFLOW}` is replaced by the stream's workflow.
const PIPELINE: &str = r#"
name = "pipeline"
[run]
horizon = "2d"
warmup = "6h"
[[streams]]
name = "items"
task_type = "bbox"
classes = 4
difficulty = { beta = [2, 6] }
arrivals = { poisson = { per_hour = 60 } }
deadline = "12h"
{WORKFLOW}
[[models]]
name = "detector"
accuracy = 0.75
speedup = 2.0
[[pools]]
name = "crowd"
count = 10
service.bbox = { lognormal = { median = "40s", sigma = 0.5 } }
accuracy = { one_coin = { beta = [8, 2] } }
pay = { per_item = 0.04 }
[[pools]]
name = "experts"
count = 3
service.bbox = { lognormal = { median = "30s", sigma = 0.4 } }
accuracy = { one_coin = { beta = [19, 1] } }
pay = { per_hour = 40.0 }
[quality]
overlap = 2
aggregation = "weighted"
dynamic_overlap = { max = 4, confidence = 0.9 }
gold = { rate = 0.05 }
rules = [{ metric = "agreement", below = 0.3, window = 10, min_answers = 8, action = "ban", duration = "2h", reopen = true }]
[quality.review]
pool = "experts"
sample = 0.2
below_confidence = 0.8
max_reworks = 2
"#;

const CHAIN: &str = "pre_annotation = \"detector\"\n";

const STAGES: &str = r#"
  [[streams.stages]]
  name = "pre-annotation"
  kind = "model"
  model = "detector"
  next = [{ to = "label" }]
  [[streams.stages]]
  name = "label"
  kind = "label"
  next = [{ to = "review", when = { confidence_below = 0.8 } }, { to = "review", when = { sampled = 0.2 } }]
  [[streams.stages]]
  name = "review"
  kind = "review"
  next = [{ to = "rework", when = { verdict = "reject" } }]
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn a_chain_written_as_stages_runs_byte_for_byte_the_same() {
    let tmp = tempfile::tempdir().unwrap();
    let old = write(tmp.path(), "chain.toml", &PIPELINE.replace("{WORKFLOW}", CHAIN));
    let new = write(tmp.path(), "stages.toml", &PIPELINE.replace("{WORKFLOW}", STAGES));
    ok(run(&old, &tmp.path().join("a"), &[]));
    ok(run(&new, &tmp.path().join("b"), &[]));
    for f in ["tasks.csv", "events.jsonl", "summary.json", "series.csv"] {
        assert!(read(&tmp.path().join("a"), f) == read(&tmp.path().join("b"), f), "{f} differs between the chain and the same chain as stages");
    }
    // The run did use every part of the pipeline.
    let s = summary(&tmp.path().join("a"));
    let f = &s["figures"];
    for k in ["reviews", "reworks", "gold_answers"] {
        assert!(f[k]["mean"].as_f64().unwrap() > 0.0, "{k} = 0: the test would not see a difference there");
    }
    assert!(f["stages"]["items/review"]["entered"]["mean"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_branch_that_never_fires_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let with = STAGES.replace(
        "next = [{ to = \"review\", when = { confidence_below = 0.8 } }",
        "next = [{ to = \"escalate\", when = { sampled = 0.0 } }, { to = \"escalate\", when = { confidence_below = 0.0 } }, { to = \"review\", when = { confidence_below = 0.8 } }",
    ) + "  [[streams.stages]]\n  name = \"escalate\"\n  kind = \"label\"\n  pools = [\"experts\"]\n  overlap = 1\n";
    assert_ne!(with, STAGES);
    let a = write(tmp.path(), "without.toml", &PIPELINE.replace("{WORKFLOW}", STAGES));
    let b = write(tmp.path(), "with.toml", &PIPELINE.replace("{WORKFLOW}", &with));
    ok(run(&a, &tmp.path().join("a"), &[]));
    ok(run(&b, &tmp.path().join("b"), &[]));
    for f in ["tasks.csv", "events.jsonl", "series.csv"] {
        assert!(read(&tmp.path().join("a"), f) == read(&tmp.path().join("b"), f), "{f} differs: a branch that never fires changed the run");
    }
    // summary.json: the same, but for the branch's own stage row, which nobody entered.
    let (x, mut y) = (summary(&tmp.path().join("a")), summary(&tmp.path().join("b")));
    let extra = y["figures"]["stages"].as_object_mut().unwrap().remove("items/escalate").expect("a row for the new stage");
    assert_eq!(extra["entered"]["mean"].as_f64(), Some(0.0));
    for r in y["runs"].as_array_mut().unwrap() {
        r["stages"].as_object_mut().unwrap().remove("items/escalate");
    }
    assert_eq!(x["figures"], y["figures"]);
    assert_eq!(x["runs"], y["runs"]);
}

/// Little's law per stage, in its finite-window form: with the window starting at time 0, the
/// time-average number of tasks in a stage times the window equals the time all tasks spent in
/// it (those still in it counted to the end), so L = λ·W exactly: L from the stage's
/// time-weighted count, W from its tasks' own times.
#[test]
fn littles_law_holds_per_stage() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["lidar-sequences", "toxicity-adjudication"] {
        let out = tmp.path().join(name);
        ok(run(&root().join(format!("scenarios/{name}.toml")), &out, &["--set", "run.warmup=0s", "--set", "run.horizon=3d"]));
        let s = summary(&out);
        let stages = s["runs"][0]["stages"].as_object().unwrap();
        assert!(stages.len() >= 4, "{name}: {stages:?}");
        let window_h = s["runs"][0]["window_end_h"].as_f64().unwrap();
        for (stage, f) in stages {
            let entered = f["entered"].as_f64().unwrap();
            if entered == 0.0 {
                continue;
            }
            let l = f["tasks_in_stage_mean"].as_f64().unwrap();
            let lambda_w = entered / window_h * f["time_in_stage_mean_s"].as_f64().unwrap() / 3600.0;
            assert!((l - lambda_w).abs() <= 1e-6 * l.max(1e-9) + 1e-9, "{name} {stage}: L = {l}, λW = {lambda_w}");
            let (left, still) = (f["left"].as_f64().unwrap(), f["still_in"].as_f64().unwrap());
            assert_eq!(left + still, entered, "{name} {stage}: every entry left or is still in it");
        }
    }
}

/// A scene's consistency check starts only once its 40 keyframes are final: ids are handed out
/// in arrival order, a scene first and its keyframes right after it.
#[test]
fn a_scene_is_checked_only_after_its_keyframes_are_final() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("ls");
    ok(run(&root().join("scenarios/lidar-sequences.toml"), &out, &["--set", "run.horizon=3d", "-r", "1"]));
    let mut rows = csv::Reader::from_path(out.join("tasks.csv")).unwrap();
    let head = rows.headers().unwrap().clone();
    let col = |n: &str| head.iter().position(|h| h == n).unwrap_or_else(|| panic!("no column {n}"));
    let (task, stream, start, fin) = (col("task"), col("stream"), col("first_start_s"), col("final_s"));
    let recs: Vec<csv::StringRecord> = rows.records().map(|r| r.unwrap()).collect();
    let mut checked = 0;
    for (i, r) in recs.iter().enumerate() {
        if &r[stream] != "scenes" || r[start].is_empty() {
            continue;
        }
        let id: u64 = r[task].parse().unwrap();
        let parts: Vec<&csv::StringRecord> = recs[i + 1..].iter().take_while(|p| &p[stream] == "keyframes").collect();
        assert_eq!(parts.len(), 40, "scene {id}: its keyframes follow it");
        for p in parts {
            assert_eq!(p[task].parse::<u64>().unwrap() - id <= 40, true);
            let done: f64 = p[fin].parse().unwrap_or_else(|_| panic!("scene {id} started but keyframe {} is not final", &p[task]));
            assert!(done <= r[start].parse::<f64>().unwrap(), "scene {id} started at {} before keyframe {} was final at {done}", &r[start], &p[task]);
        }
        checked += 1;
    }
    assert!(checked > 20, "only {checked} scenes were checked");
}

#[test]
fn broken_graphs_are_refused_with_the_stage_and_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    let base = "[[streams]]\nname = \"s\"\ntask_type = \"bbox\"\n{STAGES}\n[[pools]]\nname = \"crowd\"\ncount = 3\nservice.bbox = { fixed = \"30s\" }\n[[pools]]\nname = \"experts\"\ncount = 1\nservice.bbox = { fixed = \"30s\" }\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "[[streams.stages]]\nname = \"a\"\nkind = \"label\"\nnext = [{ to = \"b\" }]\n[[streams.stages]]\nname = \"b\"\nkind = \"label\"\nnext = [{ to = \"a\" }]\n",
            ":11:",
            "streams[0].stages[1].next: the workflow has a cycle through stage \"b\"",
        ),
        ("[[streams.stages]]\nname = \"a\"\nkind = \"label\"\n[[streams.stages]]\nname = \"b\"\nkind = \"label\"\n", ":7:", "stage \"b\" is unreachable"),
        ("[[streams.stages]]\nname = \"a\"\nkind = \"label\"\nnext = [{ to = \"nowhere\" }]\n", ":7:", "streams[0].stages[0].next[0].to: no stage named \"nowhere\""),
        ("[[streams.stages]]\nname = \"a\"\nkind = \"label\"\npools = [\"experts\"]\nskill = \"polygon\"\n", ":4:", "no pool can work stage \"a\": no pool it names has the skill \"polygon\""),
        ("[[streams.stages]]\nname = \"a\"\nkind = \"review\"\n", ":4:", "no pool can work stage \"a\": a review stage needs `pools` or [quality.review]"),
        ("language = \"fr\"\n[[streams.stages]]\nname = \"a\"\nkind = \"label\"\n", ":5:", "no pool can work stage \"a\": no pool with the skill speaks the stream's language (\"fr\")"),
        ("[[streams.stages]]\nname = \"a\"\nkind = \"label\"\nnext = [{ to = \"final\", when = { verdict = \"accept\" } }]\n", ":7:", "a verdict condition needs a review stage"),
        ("[[streams.stages]]\nname = \"a\"\nkind = \"label\"\npools = [\"crwd\"]\n", ":7:", "streams[0].stages[0].pools[0]: no pool named \"crwd\""),
        ("[[streams.stages]]\nname = \"a\"\nkind = \"model\"\nmodel = \"m\"\n", ":7:", "no model named \"m\""),
        ("workflow = [\"label\", \"aggregate\"]\n[[streams.stages]]\nname = \"a\"\nkind = \"label\"\n", ":5:", "give the workflow as `stages` or as `workflow`, not both"),
        ("parts = { stream = \"s\", count = 3 }\n", ":4:", "streams[0].parts.stream: a stream's tasks cannot be parts of themselves"),
        ("parts = { stream = \"frames\", count = 0 }\n", ":4:", "no stream named \"frames\""),
    ];
    let mut wrong = Vec::new();
    for (k, (stages, line, msg)) in cases.iter().enumerate() {
        let p = write(tmp.path(), &format!("bad{k}.toml"), &base.replace("{STAGES}", stages));
        let e = err(tessera().arg("simulate").arg(&p).arg("-q").arg("--out").arg(tmp.path().join("o")).output().unwrap());
        let at = e.lines().find(|l| l.contains(msg));
        if !at.is_some_and(|l| l.contains(&format!("bad{k}.toml{line}"))) {
            wrong.push(format!("case {k}: expected {msg:?} at line {line} in:\n{e}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
