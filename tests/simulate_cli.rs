//! `tessera simulate` end to end: determinism across thread counts, Little's law on every shipped
//! scenario, a three-line scenario, what-if overrides, and precise errors on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn tessera() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn simulate(args: &[&str], threads: usize) -> Output {
    let out = tessera().arg("simulate").args(args).env("RAYON_NUM_THREADS", threads.to_string()).output().unwrap();
    out
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "tessera failed: {}\n{}", String::from_utf8_lossy(&out.stderr), String::from_utf8_lossy(&out.stdout));
    String::from_utf8(out.stdout).unwrap()
}

fn err(out: Output) -> String {
    assert!(!out.status.success(), "expected a failure, got: {}", String::from_utf8_lossy(&out.stdout));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(!e.contains("panicked"), "panicked: {e}");
    e
}

/// Every scenario shipped: the library and the benchmark scenarios (scenarios/**/*.toml).
fn library() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.ends_with("src") {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "toml") && !p.ends_with("Cargo.toml") {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(&root().join("scenarios"), &mut v);
    v.sort();
    v
}

fn read(dir: &Path, f: &str) -> Vec<u8> {
    std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
}

#[test]
fn same_scenario_and_seed_give_identical_bytes_at_any_thread_count() {
    let tmp = tempfile::tempdir().unwrap();
    for scenario in ["scenarios/llm-preference.toml", "scenarios/lidar-cuboids.toml", "scenarios/biased-crowd.toml"] {
        let path = root().join(scenario);
        let mut outputs = Vec::new();
        for (i, threads) in [1usize, 2, 2].into_iter().enumerate() {
            let dir = tmp.path().join(format!("run{i}"));
            let p = path.to_str().unwrap();
            ok(simulate(&[p, "-q", "--trace", "-r", "3", "--seed", "11", "--set", "run.horizon=5d", "--set", "run.warmup=1d", "--out", dir.to_str().unwrap()], threads));
            outputs.push(["summary.json", "tasks.csv", "events.jsonl", "series.csv", "bias.csv"].map(|f| read(&dir, f)));
        }
        assert!(outputs[0] == outputs[1], "{scenario}: 1 thread and 2 threads differ");
        assert!(outputs[1] == outputs[2], "{scenario}: two runs differ");
        let dir = tmp.path().join("other-seed");
        ok(simulate(&[path.to_str().unwrap(), "-q", "-r", "3", "--seed", "12", "--set", "run.horizon=5d", "--set", "run.warmup=1d", "--out", dir.to_str().unwrap()], 2));
        assert!(read(&dir, "tasks.csv") != outputs[0][1], "{scenario}: another seed gave the same tasks");
    }
}

/// Little's law on every shipped scenario, two ways:
/// - exactly, in its finite-window form (L·T = total time tasks spent in the system inside the
///   window): the monitor's time-average number in system equals what tasks.csv adds up;
/// - asymptotically, L = λ·W with λ the arrival rate and W the mean (censored) time in system of
///   the tasks that arrived in the window, within 3%, where the tasks carried in from the warm-up
///   are under 1% of the window's (else that edge term is what L − λW measures: medical-imaging
///   starts its window on a Monday with the weekend's backlog).
#[test]
fn littles_law_holds_on_every_library_scenario() {
    let tmp = tempfile::tempdir().unwrap();
    let scenarios = library();
    assert!(scenarios.len() >= 5, "the library has {} scenarios", scenarios.len());
    for path in scenarios {
        let dir = tmp.path().join(path.strip_prefix(root()).unwrap().with_extension(""));
        ok(simulate(&[path.to_str().unwrap(), "-q", "--out", dir.to_str().unwrap()], 2));
        let summary: serde_json::Value = serde_json::from_slice(&read(&dir, "summary.json")).unwrap();
        let f = &summary["figures"];
        let get = |k: &str| f[k]["mean"].as_f64().unwrap();
        let (start_h, end_h) = (get("window_start_h"), get("window_end_h"));
        let (start, end) = (start_h * 3600.0, end_h * 3600.0);
        let l = get("tasks_in_system_mean");
        let mut rdr = csv::Reader::from_path(dir.join("tasks.csv")).unwrap();
        let headers = rdr.headers().unwrap().clone();
        let col = |n: &str| headers.iter().position(|h| h == n).unwrap();
        let (ca, cf, cc, cg) = (col("arrival_s"), col("final_s"), col("counted"), col("reopened_gap_s"));
        let (mut area, mut n, mut sojourn, mut carried) = (0.0f64, 0u64, 0.0f64, 0u64);
        // A final label re-opened by a ban leaves the system for the gap in between. tasks.csv
        // gives the gap's length, not when it was: for a task that arrived in the window it lies
        // inside it, for one final (for the last time) before the window it lies before it; for
        // one carried in from the warm-up it may lie partly before the window, so the area is
        // only known between "all of the gap in the window" and "none of it".
        let mut unplaced_gaps = 0.0f64;
        for rec in rdr.records() {
            let rec = rec.unwrap();
            let a: f64 = rec[ca].parse().unwrap();
            let d: f64 = if rec[cf].is_empty() { end } else { rec[cf].parse().unwrap() };
            let gap: f64 = rec[cg].parse().unwrap();
            let gap = if d <= start { 0.0 } else { gap }; // final before the window: so was the gap
            if a < start {
                unplaced_gaps += gap;
            }
            area += (d.min(end) - a.max(start)).max(0.0) - gap;
            carried += (a < start && d > start) as u64;
            if &rec[cc] == "true" {
                n += 1;
                sojourn += d.min(end) - a - gap;
            }
        }
        let name = path.file_name().unwrap().to_string_lossy();
        let exact = area / (end - start);
        let upper = (area + unplaced_gaps) / (end - start);
        let tol = 1e-6 * l.max(1.0);
        assert!(l >= exact - tol && l <= upper + tol, "{name}: monitor L = {l}, tasks.csv gives {exact} (up to {upper} with gaps that may lie before the window)");
        let lambda = n as f64 / (end - start);
        let w = sojourn / n as f64;
        let rel = (lambda * w - l).abs() / l;
        eprintln!("{name}: L = {l:.3}, λW = {:.3} (λ = {:.2}/h, W = {w:.1} s), relative gap {rel:.4}, carried in {carried}", lambda * w, lambda * 3600.0);
        assert!(carried as f64 > 0.01 * n as f64 || rel < 0.03, "{name}: Little's law off by {:.1}%: L = {l}, λW = {}", rel * 100.0, lambda * w);
    }
}

#[test]
fn a_three_line_scenario_is_valid() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("tiny.toml");
    std::fs::write(&file, "[[streams]]\n[[pools]]\ncount = 3\n").unwrap();
    let out = ok(simulate(&[file.to_str().unwrap(), "--out", tmp.path().join("o").to_str().unwrap()], 1));
    assert!(out.contains("tiny · policy fifo"), "{out}");
    let s: serde_json::Value = serde_json::from_slice(&read(&tmp.path().join("o"), "summary.json")).unwrap();
    let arrivals = s["figures"]["arrivals"]["mean"].as_f64().unwrap();
    // Default: 60 tasks/h for 7 days.
    assert!((arrivals - 60.0 * 168.0).abs() < 4.0 * (60.0f64 * 168.0).sqrt(), "{arrivals}");
    assert_eq!(s["schema"], "tessera.summary/2");
}

#[test]
fn set_overrides_change_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let mmc = root().join("scenarios/mmc.toml");
    let run = |extra: &[&str], dir: &str| -> serde_json::Value {
        let d = tmp.path().join(dir);
        let mut args = vec![mmc.to_str().unwrap(), "-q", "--set", "run.horizon=3d", "--out", d.to_str().unwrap()];
        args.extend_from_slice(extra);
        ok(simulate(&args, 1));
        serde_json::from_slice(&read(&d, "summary.json")).unwrap()
    };
    let base = run(&[], "base");
    let more = run(&["--set", "pools.agents.count=20"], "more");
    let pw = |s: &serde_json::Value| s["figures"]["p_wait_to_start"]["mean"].as_f64().unwrap();
    assert!(pw(&more) < pw(&base) / 5.0, "20 agents should rarely make anyone wait: {} vs {}", pw(&more), pw(&base));
    assert_eq!(more["figures"]["window_end_h"]["mean"], 72.0);
}

/// A run to a task count whose tasks may leave unserved (queue patience) ends when every task is
/// final or gone: it used to run out of events with the gone ones counted unfinished and say it
/// stopped early because "nobody is left to work them".
#[test]
fn a_run_to_a_task_count_ends_when_every_task_is_final_or_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let mmc = root().join("scenarios/mmc.toml");
    let d = tmp.path().join("patience");
    let args = [mmc.to_str().unwrap(), "-q", "--set", "run.tasks=300", "--set", "run.warmup=0s", "--set", "pools.agents.count=3", "--set", "streams.calls.patience={ exponential = { mean = \"20min\" } }", "--out", d.to_str().unwrap()];
    let out = simulate(&args, 1);
    assert!(String::from_utf8_lossy(&out.stderr).is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    ok(out);
    let s: serde_json::Value = serde_json::from_slice(&read(&d, "summary.json")).unwrap();
    assert_eq!(s["stopped"], serde_json::json!([]), "{}", s["stopped"]);
    let f = &s["figures"];
    let (done, left) = (f["completions"]["mean"].as_f64().unwrap(), f["left_unserved"]["mean"].as_f64().unwrap());
    assert!(left > 100.0 && done + left == 300.0, "3 agents serve about 60 tasks/h of 200: {done} final, {left} left");
}

#[test]
fn errors_name_file_line_column_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.toml");
    let f = file.to_str().unwrap();
    let cases: &[(&str, &[&str], &str)] = &[
        ("[[streams]]\n\n[[pools]]\nname = \"crowd\"\ncount = -3\n", &[], ":5:9: pools[0].count: expected a positive integer, found -3"),
        ("[[streams]]\ncolour = 3\n[[pools]]\n", &[], ":2:1: streams[0].colour: unknown field colour, expected one of name, task_type"),
        ("[run]\nhorizon = \"7 parsecs\"\n[[streams]]\n[[pools]]\n", &[], ":2:11: run.horizon: unknown duration unit \"parsecs\""),
        ("[[streams]]\ntask_type = \"bbox\"\n[[pools]]\nservice.bboxx = { fixed = \"3s\" }\n", &[], "pools[0].service.bboxx: no stream has task type \"bboxx\""),
        ("[[streams]]\n[[pools]]\n[routing]\npolicy = \"telepathy\"\n", &[], ":4:10: routing.policy: unknown value \"telepathy\"; expected one of: fifo, skill-greedy"),
        ("[[streams]]\n[[pools]]\nname = \"crowd\"\n", &["--set", "pools.crowd.count=-1"], "--set pools.crowd.count=-1: pools[0].count: expected a positive integer, found -1"),
        ("[[streams]]\n[[pools]]\nname = \"crowd\"\n", &["--set", "pools.nobody.count=3"], "no entry of pools is named \"nobody\" (names: crowd)"),
        ("[[streams]\n", &[], ":1:"),
        ("[[streams]]\npre_annotation = \"sam\"\n[[pools]]\n", &[], "streams[0].pre_annotation: no model named \"sam\""),
        (
            "[[streams]]\ntask_type = \"hard\"\n[[streams]]\ntask_type = \"easy\"\n[[pools]]\ncount = 5\nservice.easy = { fixed = \"3s\" }\n[[pools]]\ncount = 1\nservice.hard = { fixed = \"3s\" }\n[quality]\noverlap = 3\n",
            &[],
            ":2:13: streams[0].task_type: 3 labels per task need 3 different annotators able to do \"hard\", but only 1 can",
        ),
    ];
    for (text, extra, expected) in cases {
        std::fs::write(&file, text).unwrap();
        let o = tmp.path().join("o");
        let mut args = vec![f, "-q", "--out", o.to_str().unwrap()];
        args.extend_from_slice(extra);
        let e = err(simulate(&args, 1));
        assert!(e.contains(expected), "for {text:?} {extra:?}\nexpected: {expected}\ngot: {e}");
        if !expected.starts_with("--set") && !expected.starts_with("no entry") {
            assert!(e.contains(f), "the error should name the file: {e}");
        }
    }
    let e = err(simulate(&["/no/such/scenario.toml"], 1));
    assert!(e.contains("/no/such/scenario.toml"), "{e}");
}

/// `--trace` writes schema 2: per replication a header line, then time-ordered events with
/// absolute timestamps, durable ids and names; every task of tasks.csv arrives in it, every
/// settled one is final in it, and no part file is left behind.
#[test]
fn the_trace_is_schema_2_and_agrees_with_tasks_csv() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("trace");
    let p = root().join("scenarios/ecommerce-surge.toml");
    ok(simulate(&[p.to_str().unwrap(), "-q", "--trace", "-r", "2", "--set", "run.horizon=2d", "--out", dir.to_str().unwrap()], 2));
    let text = String::from_utf8(read(&dir, "events.jsonl")).unwrap();
    let mut headers = 0;
    let (mut arrivals, mut finals, mut reopens) = ([0u64; 2], [0i64; 2], [0i64; 2]);
    let mut last_t = i64::MIN;
    let epoch = 1_704_067_200_000_000i64;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if v.get("schema").is_some() {
            assert_eq!(v["schema"], "tessera.trace/2");
            assert_eq!(v["v"], 2);
            assert_eq!(v["epoch_unix_us"], epoch);
            assert_eq!(v["replication"], headers);
            headers += 1;
            last_t = i64::MIN;
            continue;
        }
        assert_eq!(v["v"], 2, "{line}");
        let t = v["t_us"].as_i64().unwrap();
        assert!(t >= epoch && t >= last_t, "time goes forward from the epoch: {line}");
        last_t = t;
        let r = v["replication"].as_u64().unwrap() as usize;
        if let Some(a) = v.get("annotator") {
            let a = a.as_str().unwrap();
            assert!(a.split_once('/').is_some_and(|(pool, n)| !pool.is_empty() && n.parse::<u32>().is_ok()), "annotator by name: {line}");
        }
        match v["event"].as_str().unwrap() {
            "arrive" => {
                arrivals[r] += 1;
                assert_eq!(v["stream"], "products");
            }
            "final" => {
                finals[r] += 1;
                assert_eq!(v["stream"], "products", "{line}");
            }
            "settled" => assert_eq!(v["stream"], "products", "{line}"),
            "reopen" => reopens[r] += 1,
            _ => {}
        }
    }
    assert_eq!(headers, 2);
    let csv = String::from_utf8(read(&dir, "tasks.csv")).unwrap();
    for r in 0..2 {
        let rows: Vec<&str> = csv.lines().skip(1).filter(|l| l.starts_with(&format!("{r},"))).collect();
        assert_eq!(arrivals[r], rows.len() as u64, "replication {r}: every task arrives in the trace");
        let done = rows.iter().filter(|l| l.split(',').nth(7).is_some_and(|f| !f.is_empty())).count() as i64;
        assert_eq!(finals[r] - reopens[r], done, "replication {r}: finals minus re-opens = final tasks in tasks.csv");
    }
    assert!(reopens.iter().sum::<i64>() > 0, "the scenario re-opens labels");
    let leftovers: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains(".part")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
