//! The fuzz targets: each takes one input and either accepts it (and, for scenarios, runs it a
//! little) or rejects it with an error; anything else is a bug: a panic (caught by the driver),
//! an error that does not say where, an output that breaks an invariant. A rejection's *kind*
//! (the field and the first words of the message, numbers blanked) tells the driver that an input
//! reached somewhere new, so it joins the working corpus.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use tessera_engine::quality::aggregation::Method;
use tessera_engine::run::{run, Cancel, RunOptions};
use tessera_engine::spec::Scenario;
use tessera_engine::time::{Dur, US_PER_HOUR};
use tessera_scenarios::answers::{read_answers, read_truth, Role};
use tessera_scenarios::{load_str_with, Known, ScenarioError};

/// What became of one input.
pub enum Outcome {
    /// Loaded (and run, for scenarios).
    Accepted(String),
    /// Rejected with a clear error; the string is its kind.
    Rejected(String),
}

/// The names a scenario may use: every policy this build knows.
pub fn known() -> Known<'static> {
    let names: &'static [&'static str] = Box::leak(tessera_policies::names().into_boxed_slice());
    Known::with_policies(names)
}

/// The kind of an error message: digits and quoted values blanked, at most 60 characters.
fn kind(path: &str, message: &str) -> String {
    let mut out = String::from(path);
    out.push_str(": ");
    let mut quoted = false;
    for c in message.chars().take(60) {
        match c {
            '"' => quoted = !quoted,
            _ if quoted => {}
            '0'..='9' => {
                if !out.ends_with('#') {
                    out.push('#')
                }
            }
            c => out.push(c),
        }
    }
    out.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect()
}

fn scenario_error(e: &ScenarioError) -> Result<Outcome, String> {
    let issues = e.issues();
    if issues.is_empty() {
        return Err(format!("a scenario error without a located issue: {e}"));
    }
    for i in issues {
        if i.location.is_empty() || i.message.trim().is_empty() {
            return Err(format!("an error that does not say where or what: {i:?}"));
        }
    }
    let i = &issues[0];
    let path: String = i.path.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
    Ok(Outcome::Rejected(kind(&path, &i.message)))
}

/// Runs a loaded scenario briefly: at most 2 simulated hours of arrivals, or 200 tasks. The run
/// must end by itself (the engine's own guards stop a run that cannot progress); `cancel` is the
/// driver's watchdog.
fn run_briefly(mut s: Scenario, cancel: &Arc<Cancel>) -> Result<String, String> {
    if let Some(n) = s.run.tasks {
        s.run.tasks = Some(n.min(200));
    } else {
        let h = s.run.arrival_horizon().unwrap_or(Dur(2 * US_PER_HOUR));
        s.run.horizon = Some(Dur(h.0.min(2 * US_PER_HOUR)));
    }
    if s.run.arrival_horizon().is_some_and(|h| s.run.warmup >= h) {
        s.run.warmup = Dur::ZERO;
    }
    let routing = s.routing.clone();
    let make = move || tessera_policies::router_for(&routing).expect("validated policy name");
    let opts = RunOptions { cancel: Some(cancel), ..RunOptions::figures(7) };
    match run(&s, &make, opts, &mut |_| {}) {
        Ok(out) => {
            let f = &out.summary;
            if f.completions + f.unfinished + f.left_unserved != f.arrivals {
                return Err(format!("figures that do not add up: {} arrivals, {} completed, {} unfinished, {} left unserved", f.arrivals, f.completions, f.unfinished, f.left_unserved));
            }
            Ok(match out.stopped {
                Some(st) => format!("stopped: {}", kind("", &st.reason)),
                None => "ran".into(),
            })
        }
        // An error from a run is allowed (a file it cannot write) but must say something.
        Err(e) if !e.trim().is_empty() => Ok(format!("run error: {}", kind("", &e))),
        Err(_) => Err("a run failed with an empty error".into()),
    }
}

/// A scenario file.
pub fn scenario(input: &[u8], known: &Known, cancel: &Arc<Cancel>) -> Result<Outcome, String> {
    let text = String::from_utf8_lossy(input);
    match load_str_with(&text, "fuzz.toml", &[], &[], known) {
        Ok(l) => run_briefly(l.scenario, cancel).map(Outcome::Accepted),
        Err(e) => scenario_error(&e),
    }
}

/// `--set` and `--unset` on a shipped scenario: the input's first line names the base scenario
/// (an index into `bases`), every other line is `set KEY=VALUE` or `unset KEY`.
pub fn overrides(input: &[u8], bases: &[String], known: &Known, cancel: &Arc<Cancel>) -> Result<Outcome, String> {
    let text = String::from_utf8_lossy(input);
    let mut lines = text.lines();
    let base = lines.next().and_then(|l| l.trim().parse::<usize>().ok()).unwrap_or(0) % bases.len().max(1);
    let (mut set, mut unset) = (Vec::new(), Vec::new());
    for l in lines {
        if let Some(k) = l.strip_prefix("unset ") {
            unset.push(k.to_string());
        } else {
            set.push(l.strip_prefix("set ").unwrap_or(l).to_string());
        }
    }
    match load_str_with(&bases[base], "base.toml", &unset, &set, known) {
        Ok(l) => run_briefly(l.scenario, cancel).map(Outcome::Accepted),
        Err(e) => scenario_error(&e),
    }
}

/// An answers CSV (`task,worker,label`), optionally followed by a line `---truth---` and a truth
/// CSV (`task,label`): read, aggregated with a cheap and an iterative method, scored.
pub fn csv(input: &[u8], dir: &Path) -> Result<Outcome, String> {
    let (answers, truth) = match input.windows(11).position(|w| w == b"---truth---") {
        Some(at) => (&input[..at], Some(&input[(at + 11).min(input.len())..])),
        None => (input, None),
    };
    let write = |name: &str, bytes: &[u8]| -> Result<std::path::PathBuf, String> {
        let p = dir.join(name);
        std::fs::File::create(&p).and_then(|mut f| f.write_all(bytes)).map_err(|e| format!("fuzz driver cannot write {}: {e}", p.display()))?;
        Ok(p)
    };
    let a = write("answers.csv", answers)?;
    let file = match read_answers(&a) {
        Ok(f) => f,
        Err(e) => {
            let m = e.to_string();
            if !m.contains("answers.csv") {
                return Err(format!("an answers error that does not name the file: {m}"));
            }
            return Ok(Outcome::Rejected(kind("answers", m.split_once(": ").map_or(&m, |x| x.1))));
        }
    };
    // The bias report (`aggregate --bias`): every tested worker's statistics are numbers.
    let (_, class) = tessera_engine::quality::bias_batch::class_bias_batch(&file.answers, None, &Default::default(), 0.1).map_err(|e| format!("the bias report failed: {e}"))?;
    if let Some(b) = class.iter().find(|b| !(b.bias.p.is_finite() && b.q.is_finite() && b.bias.strength.is_finite())) {
        return Err(format!("a class-bias figure that is not a number: {b:?}"));
    }
    if let Some(left) = &file.left {
        let position = tessera_engine::quality::bias_batch::position_bias_by_worker(&file.answers, left, 0.1);
        if let Some(b) = position.iter().find(|b| !(b.bias.p.is_finite() && b.q.is_finite())) {
            return Err(format!("a position-bias figure that is not a number: {b:?}"));
        }
    }
    let method = Method::ALL[(answers.len() + file.answers.len()) % Method::ALL.len()];
    for m in [Method::Mv, method] {
        if m == Method::GoldMv {
            continue; // needs golden labels
        }
        if let Err(e) = m.aggregator().fit(&file.answers, None) {
            if e.to_string().trim().is_empty() {
                return Err(format!("{} failed with an empty error", m.name()));
            }
        }
    }
    if let Some(t) = truth {
        let p = write("truth.csv", t)?;
        for role in [Role::Truth, Role::Golden] {
            if let Err(e) = read_truth(&p, &file, role) {
                let m = e.to_string();
                if !m.contains("truth.csv") {
                    return Err(format!("a truth error that does not name the file: {m}"));
                }
                return Ok(Outcome::Rejected(kind("truth", m.split_once(": ").map_or(&m, |x| x.1))));
            }
        }
    }
    Ok(Outcome::Accepted(format!("{} labels", file.label_names.len().min(8))))
}

/// The live server's parsers. The input's first line names what the rest is: `settings`
/// (a project's TOML, checked and built into a core, then a person registered and a task
/// arrived), `scenario` (the same, seeded from a scenario: simulation sections dropped), a
/// JSON body: `task`, `bulk`, `register`, `project`, `submit`, or a queue `message` (its subject
/// on the next line, then its payload). A rejection must name a field; a message that becomes a
/// task must carry a unique id (redelivery must be harmless).
pub fn live(input: &[u8]) -> Result<Outcome, String> {
    use tessera_live::error::{parse_json, ApiError};
    let text = String::from_utf8_lossy(input);
    let (what, rest) = text.split_once('\n').unwrap_or(("settings", &text));
    let check = |e: ApiError| -> Result<Outcome, String> {
        if e.status >= 500 {
            return Err(format!("a {} for client input: {}", e.status, e.body.message));
        }
        let field = e.body.field.clone().unwrap_or_default();
        if field.is_empty() || e.body.message.trim().is_empty() {
            return Err(format!("an error that does not name the field: {:?}", e.body));
        }
        let path: String = field.chars().map(|c| if c.is_ascii_digit() { '#' } else { c }).collect();
        Ok(Outcome::Rejected(kind(&path, &e.body.message)))
    };
    let body = rest.as_bytes();
    match what.trim() {
        "settings" | "scenario" => match tessera_live::project::Settings::parse(rest, what.trim() == "scenario", 60_000_000, 1) {
            Ok(s) => {
                let mut core = s.core();
                let reg = tessera_live::project::Registration { external_id: "fuzz".into(), ..Default::default() };
                let (view, pay) = s.annotator_view(&reg, tessera_engine::time::SimTime(0)).map_err(|e| format!("a default registration refused: {}", e.body.message))?;
                let a = core.add_annotator(view, pay);
                let mut rng = tessera_live::log::rng_for(1, 1);
                core.arrive_with(tessera_engine::core::TaskId(1), 0, 0, None, Default::default(), tessera_engine::time::SimTime(0), &mut rng);
                core.handle(tessera_engine::core::Command::AnnotatorReady { annotator: a }, tessera_engine::time::SimTime(1), &mut rng);
                core.check().map_err(|e| format!("a core built from accepted settings breaks an invariant: {e}"))?;
                Ok(Outcome::Accepted(format!("{} streams", s.setup.streams.len())))
            }
            Err(e) => check(e),
        },
        "task" => parse_json::<tessera_live::api::NewTask>(body).map_or_else(check, |_| Ok(Outcome::Accepted("task".into()))),
        "bulk" => parse_json::<tessera_live::api::BulkTasks>(body).map_or_else(check, |b| Ok(Outcome::Accepted(format!("bulk of {}", b.tasks.len().min(3))))),
        "register" => parse_json::<tessera_live::project::Registration>(body).map_or_else(check, |_| Ok(Outcome::Accepted("register".into()))),
        "project" => parse_json::<tessera_live::api::CreateProject>(body).map_or_else(check, |_| Ok(Outcome::Accepted("project".into()))),
        "submit" => parse_json::<tessera_live::api::Submit>(body).map_or_else(check, |_| Ok(Outcome::Accepted("submit".into()))),
        "message" => {
            let (subject, payload) = rest.split_once('\n').unwrap_or((rest, ""));
            let m = tessera_live::queue::Incoming { subject: subject.to_string(), msg_id: None, position: 7, delivered: 1, payload: payload.as_bytes().to_vec(), token: 0 };
            match tessera_live::queue::pump::task_of(&m) {
                Ok((_, t)) if t.unique_id.is_none() => Err("a task from a message without a unique id".into()),
                Ok(_) => Ok(Outcome::Accepted("message".into())),
                Err(why) if why.trim().is_empty() => Err("a refused message without a reason".into()),
                Err(why) => Ok(Outcome::Rejected(kind("message", &why))),
            }
        }
        _ => Ok(Outcome::Rejected("unknown kind".into())),
    }
}

/// The scenario a policy file is run on when it loads (`policy` target).
const POLICY_SCENARIO: &str = include_str!("../../scenarios/bench/learning/cmu-two-class.toml");

/// A policy file (`routing.model`): read and checked, and when it loads, run greedily for two
/// simulated hours on the two-class scenario with every decision checked by the engine's own
/// eligibility guard. Weights that overflow to infinities or NaN must not panic.
pub fn policy(input: &[u8], known: &Known, cancel: &Arc<Cancel>) -> Result<Outcome, String> {
    match tessera_policies::learned::PolicyFile::from_bytes(input, "fuzz.mpk") {
        Ok(p) => {
            let mut s = load_str_with(POLICY_SCENARIO, "cmu-two-class.toml", &[], &[], known).map_err(|e| format!("the base scenario: {e}"))?.scenario;
            s.run.horizon = Some(Dur(20 * US_PER_HOUR));
            let hidden = p.net.hidden;
            let net = Arc::new(p.net);
            let make = move || -> Box<dyn tessera_engine::dispatch::Router> { Box::new(tessera_policies::learned::Learned::new(net.clone())) };
            let opts = RunOptions { cancel: Some(cancel), ..RunOptions::figures(7) };
            let out = run(&s, &make, opts, &mut |_| {})?;
            let f = &out.summary;
            if f.completions + f.unfinished + f.left_unserved != f.arrivals {
                return Err(format!("figures that do not add up under a learned policy: {} arrivals, {} completed, {} unfinished", f.arrivals, f.completions, f.unfinished));
            }
            Ok(Outcome::Accepted(format!("hidden {}", hidden.min(64))))
        }
        Err(e) if e.starts_with("fuzz.mpk: ") && e.len() > "fuzz.mpk: ".len() => Ok(Outcome::Rejected(kind("", &e))),
        Err(e) => Err(format!("a policy file error that does not name the file or say what: {e:?}")),
    }
}

/// An event trace (`tessera calibrate`): read, fitted with no base, written as a scenario that
/// must load. A rejection must name the trace (and a line, for a line's fault); a fit must give
/// finite values and a scenario that validates.
pub fn trace(input: &[u8], known: &Known) -> Result<Outcome, String> {
    use tessera_calibrate::{output, FitOptions, ReadOptions, Tally};
    let origin = "fuzz.jsonl";
    let tally = match Tally::read(input, origin, &ReadOptions::default()) {
        Ok(t) => t,
        Err(e) => {
            let m = e.to_string();
            if !m.starts_with(origin) {
                return Err(format!("a trace error that does not name the file: {m}"));
            }
            return Ok(Outcome::Rejected(kind("trace", m.split_once(": ").map_or(&m, |x| x.1))));
        }
    };
    let cal = match tessera_calibrate::fit(&tally, None, &FitOptions { bootstrap: 20, seed: 1 }) {
        Ok(c) => c,
        Err(m) => return Ok(Outcome::Rejected(kind("fit", &m))),
    };
    for f in &cal.fitted {
        let finite = |v: &serde_json::Value| match v {
            serde_json::Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
            serde_json::Value::Array(xs) => xs.iter().all(|x| x.as_f64().is_some_and(f64::is_finite)),
            _ => true,
        };
        if !finite(&f.estimate) {
            return Err(format!("{} fitted to {}", f.path, f.estimate));
        }
    }
    let text = match output::scenario_text(&tally, &cal, None) {
        Ok(t) => t,
        Err(e) => return Ok(Outcome::Rejected(kind("fitted scenario", &e.to_string()))),
    };
    match tessera_scenarios::load_str(&text, "fitted.toml", &[], known) {
        Ok(_) => Ok(Outcome::Accepted("trace".into())),
        // Names a trace may carry that a scenario cannot (a stream called "" or with a dot) are
        // refused with the field named; anything else is a fit the scenario schema cannot hold.
        Err(e) => Ok(Outcome::Rejected(kind("fitted scenario", &e.to_string()))),
    }
}

/// A drift report read back as a monitor (`tessera drift --monitor`, `serve --drift`): refused
/// with the field named, or run over a small trace with finite statistics. A report's streams and
/// pools need not be the trace's.
pub fn drift(input: &[u8]) -> Result<Outcome, String> {
    use tessera_calibrate::drift::{run, DriftReport};
    let report = match DriftReport::from_json(input) {
        Ok(r) => r,
        Err(e) => return Ok(Outcome::Rejected(kind("drift", &e))),
    };
    let trace: &[u8] = include_bytes!("../corpus/trace/recovery-start.jsonl");
    match run(trace, "fuzz.jsonl", &tessera_calibrate::ReadOptions::default(), report) {
        Ok(r) if r.tests.iter().all(|t| t.statistic_at_end.is_finite() && t.statistic_at_end >= 0.0) => Ok(Outcome::Accepted("drift".into())),
        Ok(r) => Err(format!("a statistic that is not a number: {:?}", r.tests.iter().map(|t| t.statistic_at_end).collect::<Vec<_>>())),
        Err(e) => Err(format!("a valid trace refused under an accepted report: {e}")),
    }
}
