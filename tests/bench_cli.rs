//! `tessera bench` end to end: byte-identical leaderboards at 1 and 2 threads, held-out seeds
//! differ from tuning seeds, a best policy is marked, bad input is refused.

use std::process::Command;

fn bench(args: &[&str], threads: &str, out: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("bench")
        .args(args)
        .args(["--threads", threads, "-q", "--out"])
        .arg(out)
        .output()
        .unwrap()
}

const ARGS: &[&str] = &["--scenarios", "scenarios/bench/qgym/*.toml", "--scenarios", "scenarios/bench/tight-deadlines.toml", "--policies", "fifo,c-mu,max-weight,batch-lp,label-studio,random", "--seeds", "3", "--set", "run.horizon=12h", "--set", "run.warmup=1h"];

fn read(dir: &std::path::Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap()
}

#[test]
fn bench_is_byte_identical_at_1_and_2_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("t1"), tmp.path().join("t2"));
    for (dir, t) in [(&a, "1"), (&b, "2")] {
        let o = bench(ARGS, t, dir);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for f in ["leaderboard.md", "leaderboard.csv", "leaderboard-streams.csv"] {
        assert_eq!(read(&a, f), read(&b, f), "{f} differs between 1 and 2 threads");
    }
    let md = read(&a, "leaderboard.md");
    assert!(md.contains("## qgym-n-model") && md.contains("## tight-deadlines"));
    assert_eq!(md.matches('★').count(), 2 + 1, "one star per scenario (plus the legend)");
    assert!(md.contains("tessera bench --scenarios"), "the reproducing command is missing");
    let csv = read(&a, "leaderboard.csv");
    assert_eq!(csv.lines().count(), 1 + 2 * 6);
    assert!(csv.lines().skip(1).all(|l| l.split(',').count() == 4 + 12));

    // The tuning set is a different set of seeds: different numbers.
    let c = tmp.path().join("tuning");
    let mut tuning = ARGS.to_vec();
    tuning.push("--tuning");
    assert!(bench(&tuning, "2", &c).status.success());
    assert_ne!(read(&c, "leaderboard.csv"), csv, "tuning and evaluation seeds gave the same results");
}

#[test]
fn bench_refuses_unknown_policies_and_empty_globs() {
    let tmp = tempfile::tempdir().unwrap();
    let o = bench(&["--policies", "fifo,telepathy"], "1", tmp.path());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown policy \"telepathy\""));
    let o = bench(&["--scenarios", "scenarios/bench/nothing-*.toml"], "1", tmp.path());
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no scenario file matches"));
}
