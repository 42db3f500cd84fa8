//! `tessera train` end to end: a policy file and its report, resume, the policy used by
//! `simulate` and `bench --models`, and the errors a user meets (no model, a missing file, a file
//! that is not a policy, nothing left to train).

use std::path::Path;
use std::process::{Command, Output};

fn tessera(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera")).current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap()
}

fn ok(o: &Output) -> String {
    assert!(o.status.success(), "stdout: {}\nstderr: {}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    assert!(!o.status.success(), "expected a failure: {}", String::from_utf8_lossy(&o.stdout));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SCENARIO: &str = "scenarios/bench/learning/cmu-two-class.toml";

fn train(out: &Path, iterations: &str, extra: &[&str]) -> Output {
    let out = out.to_str().unwrap();
    let mut args = vec!["train", SCENARIO, "--objective", "holding", "--iterations", iterations, "--episodes", "2", "--set", "run.horizon=50h", "--out", out, "-q"];
    args.extend_from_slice(extra);
    tessera(&args)
}

#[test]
fn train_resume_simulate_and_bench() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let policy = models.join("cmu-two-class.mpk");
    ok(&train(&policy, "2", &[]));
    assert!(policy.is_file());
    let report = std::fs::read_to_string(models.join("cmu-two-class-report/report.html")).unwrap();
    assert!(report.contains("Reward per task by iteration") && report.contains("data-values"), "the training report has its curves");
    let first = tessera_policies::learned::PolicyFile::read(&policy).unwrap();

    // Resume: one more iteration on top of the checkpoint; nothing left to do is an error.
    ok(&train(&policy, "3", &["--resume"]));
    let p = tessera_policies::learned::PolicyFile::read(&policy).unwrap();
    assert_eq!((p.training.iterations, p.training.episodes), (3, 6));
    assert!(p.net != first.net, "the resumed iteration changed the network");
    assert!(err(&train(&policy, "3", &["--resume"])).contains("has 3 iterations already"));

    // The same seed gives the same network and curve (the file also holds the wall clock).
    let again = tmp.path().join("again.mpk");
    ok(&train(&again, "2", &[]));
    let again = tessera_policies::learned::PolicyFile::read(&again).unwrap();
    assert!(again.net == first.net && again.training.curve == first.training.curve, "training is a pure function of its seed");

    // simulate with it
    let out = tmp.path().join("sim");
    let model = format!("routing.model={}", policy.display());
    ok(&tessera(&["simulate", SCENARIO, "--set", "routing.policy=learned", "--set", &model, "--set", "run.horizon=100h", "-q", "--tasks", "none", "--out", out.to_str().unwrap()]));
    assert!(out.join("summary.json").is_file());

    // bench --models: a learned row beside the heuristics, with its training cost
    let bench = tmp.path().join("bench");
    ok(&tessera(&["bench", "--scenarios", SCENARIO, "--policies", "fifo,c-mu", "--seeds", "2", "--set", "run.horizon=100h", "--models", models.to_str().unwrap(), "-q", "--out", bench.to_str().unwrap()]));
    let md = std::fs::read_to_string(bench.join("leaderboard.md")).unwrap();
    assert!(md.contains("## Learned policies") && md.contains("| cmu-two-class |") && md.contains("## References"), "{md}");
    let csv = std::fs::read_to_string(bench.join("leaderboard-learned.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
}

#[test]
fn learned_routing_errors_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let e = err(&tessera(&["simulate", SCENARIO, "--set", "routing.policy=learned", "-q", "--out", tmp.path().to_str().unwrap()]));
    assert!(e.contains("routing.model") && e.contains("tessera train"), "{e}");
    let e = err(&tessera(&["simulate", SCENARIO, "--set", "routing.policy=learned", "--set", "routing.model=no/such/policy.mpk", "-q", "--out", tmp.path().to_str().unwrap()]));
    assert!(e.contains("routing.model") && e.contains("no/such/policy.mpk"), "{e}");
    let junk = tmp.path().join("junk.mpk");
    std::fs::write(&junk, b"not a policy").unwrap();
    let e = err(&tessera(&["simulate", SCENARIO, "--set", "routing.policy=learned", "--set", &format!("routing.model={}", junk.display()), "-q", "--out", tmp.path().to_str().unwrap()]));
    assert!(e.contains("not a Tessera policy file"), "{e}");
    let e = err(&tessera(&["simulate", SCENARIO, "--set", "routing.model=x.mpk", "-q", "--out", tmp.path().to_str().unwrap()]));
    assert!(e.contains("read only by policy = \"learned\""), "{e}");
    let e = err(&tessera(&["train", SCENARIO, "--warm-start", "learned", "--out", tmp.path().join("p.mpk").to_str().unwrap()]));
    assert!(e.contains("--warm-start"), "{e}");
    let e = err(&tessera(&["train", SCENARIO, "--resume", "--out", tmp.path().join("none.mpk").to_str().unwrap()]));
    assert!(e.contains("--resume"), "{e}");
}

/// `--algo es`: fine-tunes a trained policy (from --from, never changing it), writes the ES curve
/// into the report, goes on with --resume; and says what it needs to start from.
#[test]
fn evolution_strategies_from_a_policy() {
    let tmp = tempfile::tempdir().unwrap();
    let ppo = tmp.path().join("ppo.mpk");
    ok(&train(&ppo, "1", &[]));
    let before = std::fs::read(&ppo).unwrap();
    let es = tmp.path().join("es.mpk");
    let from = ppo.to_str().unwrap();
    ok(&train(&es, "2", &["--algo", "es", "--from", from, "--pairs", "2", "--validation", "2"]));
    assert_eq!(std::fs::read(&ppo).unwrap(), before, "--from is read, never written");
    let p = tessera_policies::learned::PolicyFile::read(&es).unwrap();
    assert_eq!(p.training.algo, "ppo+es");
    assert_eq!(p.training.es_curve.len(), 2);
    assert!(p.training.es_best.is_some());
    let report = std::fs::read_to_string(tmp.path().join("es-report/report.html")).unwrap();
    assert!(report.contains("Evolution strategies"), "the report shows the ES curve");
    ok(&train(&es, "3", &["--algo", "es", "--resume", "--pairs", "2", "--validation", "2"]));
    assert_eq!(tessera_policies::learned::PolicyFile::read(&es).unwrap().training.es_curve.len(), 3);
    assert!(err(&train(&tmp.path().join("x.mpk"), "2", &["--algo", "es"])).contains("--from FILE"));
    assert!(err(&train(&tmp.path().join("y.mpk"), "2", &["--from", from])).contains("--from is for --algo es"));
}

/// `--candidates` is kept in the policy file (resume keeps it), shown in the bench's learned
/// table, and a starting file trained on another rule is refused with the rule it has.
#[test]
fn the_candidate_rule_travels_with_the_policy() {
    use tessera_policies::learned::features::Candidates;
    use tessera_policies::learned::{PolicyFile, SCHEMA};
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    let policy = models.join("cmu-two-class.mpk");
    ok(&train(&policy, "1", &["--candidates", "oldest-and-youngest"]));
    let p = PolicyFile::read(&policy).unwrap();
    assert_eq!((p.schema.as_str(), p.net.candidates), (SCHEMA, Candidates::OldestAndYoungest));
    ok(&train(&policy, "2", &["--resume"]));
    assert_eq!(PolicyFile::read(&policy).unwrap().net.candidates, Candidates::OldestAndYoungest, "resume keeps the file's rule");
    let es = tmp.path().join("es.mpk");
    let e = err(&train(&es, "1", &["--algo", "es", "--from", policy.to_str().unwrap(), "--candidates", "oldest", "--pairs", "1", "--validation", "1"]));
    assert!(e.contains("trained on --candidates oldest-and-youngest"), "{e}");
    let report = std::fs::read_to_string(models.join("cmu-two-class-report/report.html")).unwrap();
    assert!(report.contains("oldest-and-youngest"), "the training report names the rule");
    let bench = tmp.path().join("bench");
    ok(&tessera(&["bench", "--scenarios", SCENARIO, "--policies", "fifo", "--seeds", "2", "--set", "run.horizon=50h", "--models", models.to_str().unwrap(), "-q", "--out", bench.to_str().unwrap()]));
    let csv = std::fs::read_to_string(bench.join("leaderboard-learned.csv")).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",candidates") && csv.lines().nth(1).unwrap().ends_with(",oldest-and-youngest"), "{csv}");
}
