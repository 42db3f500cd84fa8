//! Hostile input to `tessera aggregate` and `tessera bench`, end to end through the built binary:
//! each case gets a clear error (exit 1, the file, the line and what is wrong) or a warning and a
//! result that says what was done; nothing panics, hangs or is dropped without a word.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tessera"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn file(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::File::create(&p).unwrap().write_all(text.as_bytes()).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `tessera aggregate ANSWERS --method M [--gt GT] [--golden GOLD] --format json`.
fn aggregate(answers: &Path, method: &str, gt: Option<&Path>, golden: Option<&Path>) -> Output {
    let mut c = bin();
    c.arg("aggregate").arg(answers).args(["--method", method, "--format", "json"]);
    if let Some(g) = gt {
        c.arg("--gt").arg(g);
    }
    if let Some(g) = golden {
        c.arg("--golden").arg(g);
    }
    c.output().unwrap()
}

/// The run failed cleanly (exit 1, no panic) and its message holds every one of `want`.
fn fails_with(o: &Output, want: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected a clean failure; stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for w in want {
        assert!(err.contains(w), "missing {w:?} in: {err}");
    }
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

/// Integer labels: t1..t4, three workers.
const NUMERIC: &str = "task,worker,label\nt1,a,1\nt1,b,1\nt1,c,0\nt2,a,0\nt2,b,0\nt2,c,0\nt3,a,1\nt3,b,1\nt3,c,1\nt4,a,0\nt4,b,1\nt4,c,0\n";

#[test]
fn a_truth_label_written_as_another_number_is_an_error_that_names_both() {
    let dir = tempfile::tempdir().unwrap();
    let answers = file(&dir, "a.csv", NUMERIC);
    let gt = file(&dir, "gt.csv", "task,label\nt1,1.0\nt2,0.0\n");
    let o = aggregate(&answers, "mv", Some(&gt), None);
    fails_with(&o, &["gt.csv, line 2: truth label \"1.0\" (task \"t1\") never occurs in the answers; answers use \"1\" — did you mean it?"]);
    // The same for golden labels, and for a word in another case.
    let o = aggregate(&answers, "ds", None, Some(&gt));
    fails_with(&o, &["gt.csv, line 2: golden label \"1.0\" (task \"t1\") never occurs in the answers; answers use \"1\""]);
    let words = file(&dir, "w.csv", "task,worker,label\nt1,a,cat\nt1,b,dog\n");
    let gt = file(&dir, "gtw.csv", "task,label\nt1,Cat\n");
    fails_with(&aggregate(&words, "mv", Some(&gt), None), &["truth label \"Cat\" (task \"t1\") never occurs in the answers; answers use \"cat\""]);
}

#[test]
fn truth_labels_no_answer_uses_are_scored_as_wrong_with_a_warning_and_all_of_them_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let answers = file(&dir, "a.csv", NUMERIC);
    // t1 and t2 score right, t3 has a label nobody gave (2): scored, wrong.
    let gt = file(&dir, "gt.csv", "task,label\nt1,1\nt2,0\nt3,2\n");
    let o = aggregate(&answers, "mv", Some(&gt), None);
    let v = json(&o);
    assert_eq!(v["scored_tasks"], 3);
    assert!((v["accuracy"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-12, "{v}");
    let warning = "gt.csv: 1 of 3 truth rows have a label that no answer uses (first: line 4, task \"t3\", label \"2\"); those tasks are scored and count as wrong";
    assert!(stderr(&o).contains("warning: ") && stderr(&o).contains(warning), "{}", stderr(&o));
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().ends_with(warning)), "{v}");

    let gt = file(&dir, "yes.csv", "task,label\nt1,yes\nt2,no\n");
    fails_with(&aggregate(&answers, "mv", Some(&gt), None), &["yes.csv: none of its labels occurs in the answers (truth uses \"yes\", \"no\"; answers use \"0\", \"1\"): nothing could be scored"]);
}

#[test]
fn duplicate_truth_rows_warn_when_identical_and_fail_when_they_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let answers = file(&dir, "a.csv", NUMERIC);
    let gt = file(&dir, "gt.csv", "task,label\nt1,1\nt2,0\nt1,1\n");
    let o = aggregate(&answers, "mv", Some(&gt), None);
    let v = json(&o);
    assert_eq!((v["scored_tasks"].as_u64(), v["accuracy"].as_f64()), (Some(2), Some(1.0)), "a repeated row is counted once");
    assert!(stderr(&o).contains("gt.csv: 1 row gives the same task with the same label again (first: task \"t1\" at lines 2 and 4); counted once"), "{}", stderr(&o));

    let gt = file(&dir, "conflict.csv", "task,label\nt1,1\nt2,0\nt1,0\n");
    fails_with(&aggregate(&answers, "mv", Some(&gt), None), &["conflict.csv, line 4: task \"t1\" has truth label \"0\" here but \"1\" at line 2; a task has one truth label"]);
    let o = aggregate(&answers, "ds", None, Some(&gt));
    fails_with(&o, &["conflict.csv, line 4: task \"t1\" has golden label \"0\" here but \"1\" at line 2"]);
}

#[test]
fn truth_or_golden_that_shares_no_task_with_the_answers_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let answers = file(&dir, "a.csv", NUMERIC);
    let other = file(&dir, "other.csv", "task,label\nx1,1\nx2,0\nx3,0\n");
    let want = ["other.csv: none of its 3 rows names a task of", "a.csv (first: task \"x1\" at line 2; the answers' tasks include \"t1\", \"t2\", \"t3\", \"t4\"); are these files a pair?"];
    fails_with(&aggregate(&answers, "mv", Some(&other), None), &want);
    fails_with(&aggregate(&answers, "ds", None, Some(&other)), &want);
    fails_with(&aggregate(&answers, "gold-mv", None, Some(&other)), &want);
    // Tasks that differ only in case are pointed out.
    let upper = file(&dir, "upper.csv", "task,label\nT1,1\n");
    fails_with(&aggregate(&answers, "mv", Some(&upper), None), &["1 matches in another letter case (first: \"T1\" here, \"t1\" there): task names are compared as text"]);
    // Some rows without answers: a warning, the rest scored.
    let some = file(&dir, "some.csv", "task,label\nt1,1\nx2,0\n");
    let o = aggregate(&answers, "mv", Some(&some), None);
    assert_eq!(json(&o)["scored_tasks"], 1);
    assert!(stderr(&o).contains("some.csv: 1 of 2 rows name a task that has no answers (first: line 3, task \"x2\"); not scored"), "{}", stderr(&o));
}

#[test]
fn an_unterminated_quote_is_an_error_not_swallowed_rows() {
    let dir = tempfile::tempdir().unwrap();
    // Line 4 opens a quote that never closes: without the check, t2..t4 would be one label.
    let answers = file(&dir, "a.csv", "task,worker,label\nt1,a,1\nt1,b,1\nt2,a,\"0\nt2,b,0\nt3,a,1\nt4,a,0\n");
    fails_with(&aggregate(&answers, "mv", None, None), &["a.csv, line 4: a quoted field (column \"label\") runs over 4 lines; unterminated quote?"]);
    // In an extra column: the swallowed lines look like rows.
    let answers = file(&dir, "b.csv", "task,worker,label,comment\nt1,a,1,ok\nt1,b,1,\"hm\nt2,a,0,ok\nt2,b,0,ok\n");
    fails_with(&aggregate(&answers, "mv", None, None), &["b.csv, line 3: a quoted field (column \"comment\") runs over 3 lines; unterminated quote?"]);
    // In a truth file.
    let answers = file(&dir, "c.csv", NUMERIC);
    let gt = file(&dir, "gt.csv", "task,label\nt1,\"1\nt2,0\nt3,1\n");
    fails_with(&aggregate(&answers, "mv", Some(&gt), None), &["gt.csv, line 2: a quoted field (column \"label\") runs over 3 lines; unterminated quote?"]);
    // A legitimate multi-line comment is fine.
    let answers = file(&dir, "d.csv", "task,worker,label,comment\nt1,a,1,\"two\nlines\"\nt1,b,1,ok\n");
    assert_eq!(json(&aggregate(&answers, "mv", None, None))["answers"], 2);
}

#[test]
fn repeated_task_worker_answers_are_kept_as_votes_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    // a says 1 twice on t1, b says 0 once: kept as two votes (as crowd-kit), majority vote gives 1;
    // dropped, it would be a 1-1 tie going to the lowest label, 0.
    let answers = file(&dir, "a.csv", "task,worker,label\nt1,a,1\nt2,a,0\nt1,b,0\nt1,a,1\nt2,b,0\n");
    let out = dir.path().join("labels.csv");
    let o = bin().arg("aggregate").arg(&answers).args(["--method", "mv", "--format", "json", "--out"]).arg(&out).output().unwrap();
    let v = json(&o);
    assert_eq!(v["answers"], 5);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "task,label,confidence\nt1,1,0.666667\nt2,0,1.000000\n");
    let warning = "a.csv: 1 answer repeats an earlier (task, worker) pair (1 pair; first: task \"t1\", worker \"a\" at lines 2 and 5); each is kept as a separate vote, as crowd-kit does";
    assert!(stderr(&o).contains(warning), "{}", stderr(&o));
    assert!(v["warnings"].as_array().unwrap().iter().any(|w| w.as_str().unwrap().ends_with(warning)), "{v}");
}

#[test]
fn the_summary_says_how_many_tasks_were_scored() {
    let dir = tempfile::tempdir().unwrap();
    let answers = file(&dir, "a.csv", NUMERIC);
    let gt = file(&dir, "gt.csv", "task,label\nt1,1\nt2,0\nt4,1\n");
    // Table summary on stdout when labels go to a file.
    let out = dir.path().join("labels.csv");
    let o = bin().arg("aggregate").arg(&answers).args(["--method", "mv", "--gt"]).arg(&gt).arg("--out").arg(&out).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("accuracy    0.6667 on 3 of 4 tasks (those with truth)\n"), "{}", stdout(&o));
    assert!(stderr(&o).is_empty(), "no warning expected: {}", stderr(&o));
    let v = json(&aggregate(&answers, "mv", Some(&gt), None));
    assert_eq!((v["scored_tasks"].as_u64(), v["tasks"].as_u64()), (Some(3), Some(4)));
    assert!(v["warnings"].as_array().unwrap().is_empty());
    // Golden: how many tasks it pins, and a warning when the method does not read it.
    let golden = file(&dir, "gold.csv", "task,label\nt1,1\n");
    let v = json(&aggregate(&answers, "ds", None, Some(&golden)));
    assert_eq!(v["golden_tasks"], 1);
    let o = aggregate(&answers, "mv", None, Some(&golden));
    assert!(stderr(&o).contains("warning: --golden is read by ds, one-coin-ds, gold-mv, ds-smoothed only; mv ignores it"), "{}", stderr(&o));
}

#[test]
fn kos_warns_when_it_disagrees_with_majority_vote_and_matches_crowdkit_on_rte() {
    let data = std::env::var_os("TESSERA_CROWD_DATA").map(PathBuf::from).unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/crowd"));
    let (answers, gt) = (data.join("rte/labels.csv"), data.join("rte/gt.csv"));
    if !answers.is_file() {
        assert!(std::env::var_os("TESSERA_REQUIRE_DATA").is_none(), "rte not found under {}", data.display());
        eprintln!("WARNING: rte not found under {}: SKIPPING", data.display());
        return;
    }
    // KOS on rte: 0.4975, as crowd-kit 1.4.2 gives for every random_state (biased prolific
    // workers carry its messages; a sign flip would give 0.5025), with a warning.
    let o = aggregate(&answers, "kos", Some(&gt), None);
    let v = json(&o);
    assert!((v["accuracy"].as_f64().unwrap() - 0.4975).abs() < 1e-9, "{v}");
    assert!(stderr(&o).contains("warning: kos agrees with majority vote on only 419 of 800 tasks (52%)"), "{}", stderr(&o));
    // Where KOS works (d_possent, 0.933 like crowd-kit) there is no warning.
    let o = aggregate(&data.join("d_possent/labels.csv"), "kos", Some(&data.join("d_possent/gt.csv")), None);
    let v = json(&o);
    assert!((v["accuracy"].as_f64().unwrap() - 0.933).abs() < 1e-9, "{v}");
    assert!(!stderr(&o).contains("kos agrees"), "{}", stderr(&o));
}

// ---- bench ----

fn bench(args: &[&str], out: &Path) -> Output {
    bin().arg("bench").args(args).args(["--threads", "1", "--out"]).arg(out).output().unwrap()
}

const SHORT: &[&str] = &["--set", "run.horizon=3h", "--set", "run.warmup=1h"];

#[test]
fn bench_skips_globbed_files_that_are_not_scenarios_and_refuses_named_ones() {
    let tmp = tempfile::tempdir().unwrap();
    // The case: scenarios/*.toml matches scenarios/Cargo.toml.
    let mut args = vec!["--scenarios", "scenarios/*.toml", "--policies", "fifo", "--seeds", "1"];
    args.extend(SHORT);
    let o = bench(&args, &tmp.path().join("all"));
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("note: skipping scenarios/Cargo.toml (matched by \"scenarios/*.toml\"): not a scenario: it has no [[streams]] or [[pools]] table"), "{}", stderr(&o));
    let md = std::fs::read_to_string(tmp.path().join("all/leaderboard.md")).unwrap();
    assert!(md.contains("## mmc") && !md.contains("Cargo"), "{md}");
    // Named without a glob, it is an error.
    let o = bench(&["--scenarios", "scenarios/Cargo.toml"], &tmp.path().join("x"));
    fails_with(&o, &["scenarios/Cargo.toml: not a scenario: it has no [[streams]] or [[pools]] table (its top-level keys: dependencies, dev-dependencies, package)"]);
    // A glob matching only non-scenarios is an error too.
    let o = bench(&["--scenarios", "scenarios/Carg?.toml"], &tmp.path().join("x"));
    fails_with(&o, &["no scenario file matches \"scenarios/Carg?.toml\": the one file it matches is not a scenario"]);
    // A broken scenario matched by a glob is not skipped: its error is the answer.
    let dir = tempfile::tempdir().unwrap();
    file(&dir, "broken.toml", "[[streams]]\nname = \"s\"\nnonsense = 3\n");
    let glob = format!("{}/*.toml", dir.path().display());
    let o = bench(&["--scenarios", &glob], &tmp.path().join("x"));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("broken.toml") && !stderr(&o).contains("skipping"), "{}", stderr(&o));
}

#[test]
fn bench_merges_duplicate_policies_and_scenarios() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["--scenarios", "scenarios/mmc.toml", "--scenarios", "scenarios/m*.toml", "--policies", "c-mu,fifo,c-mu,fifo", "--seeds", "2"];
    args.extend(SHORT);
    let o = bench(&args, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("note: --policies names c-mu, fifo more than once: each runs once (c-mu,fifo)"), "{}", stderr(&o));
    assert!(stderr(&o).contains("note: scenarios/mmc.toml is named more than once (by \"scenarios/m*.toml\" too): run once"), "{}", stderr(&o));
    let csv = std::fs::read_to_string(tmp.path().join("leaderboard.csv")).unwrap();
    let rows: Vec<String> = csv.lines().skip(1).map(|l| l.split(',').take(2).collect::<Vec<_>>().join(",")).collect();
    assert_eq!(rows, ["mmc,c-mu", "mmc,fifo", "medical-imaging,c-mu", "medical-imaging,fifo"], "{csv}");
    let md = std::fs::read_to_string(tmp.path().join("leaderboard.md")).unwrap();
    assert!(md.contains("--policies c-mu,fifo --seeds 2"), "the reproducing command uses the merged list: {md}");
}

#[test]
fn bench_with_one_seed_says_n_a_not_nan() {
    let tmp = tempfile::tempdir().unwrap();
    let mut args = vec!["--scenarios", "scenarios/mmc.toml", "--policies", "fifo,c-mu", "--seeds", "1"];
    args.extend(SHORT);
    let o = bench(&args, tmp.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let md = std::fs::read_to_string(tmp.path().join("leaderboard.md")).unwrap();
    assert!(!md.contains("nan"), "{md}");
    // two policies × six figures, and the scenario's hindsight reference
    assert_eq!(md.matches("± n/a").count(), 2 * 6 + 1, "{md}");
    assert!(md.contains("1 seed per scenario") && md.contains("with one seed there is no interval (n/a)"), "{md}");
    let csv = std::fs::read_to_string(tmp.path().join("leaderboard.csv")).unwrap();
    for row in csv.lines().skip(1) {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells.len(), 16, "{row}");
        assert!(cells[4..].iter().step_by(2).all(|m| m.parse::<f64>().is_ok()), "means are numbers: {row}");
        assert!(cells[5..].iter().step_by(2).all(|h| h.is_empty()), "half-widths are empty: {row}");
    }
    let streams = std::fs::read_to_string(tmp.path().join("leaderboard-streams.csv")).unwrap();
    assert!(!streams.contains("nan"), "{streams}");
}

#[test]
fn bench_refuses_seed_and_thread_counts_that_cannot_be_meant_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    for (args, want) in [
        (vec!["--seeds", "1000000000"], "1000000000 is more than the limit of 10000 seeds per scenario and policy"),
        (vec!["--seeds", "99999999999999999999999"], "is more than the limit of 10000 seeds"),
        (vec!["--seeds", "0"], "at least 1 seed is needed"),
        (vec!["--seeds", "ten"], "expected a whole number of seeds from 1 to 10000"),
        (vec!["--threads", "1000000"], "expected a number of threads from 1 to 1024"),
        (vec!["--threads", "0"], "expected a number of threads from 1 to 1024"),
    ] {
        let start = Instant::now();
        let o = bin().arg("bench").args(&args).arg("--out").arg(tmp.path()).output().unwrap();
        assert!(start.elapsed() < Duration::from_secs(10), "{args:?} took {:?}", start.elapsed());
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        assert!(!tmp.path().join("leaderboard.md").exists());
    }
}
