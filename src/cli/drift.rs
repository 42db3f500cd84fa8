//! `tessera drift`: CUSUM tests of an operation's trace against its twin. A thin shell over
//! tessera-calibrate's `drift`: read, test, print, write.

use anyhow::{bail, Context, Result};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use tessera_calibrate::drift::{drift, DriftOptions, DriftReport, Metric};

pub const LONG_ABOUT: &str = "\
Say when an operation stops looking like its twin: CUSUM tests, hour by hour, of

  arrivals per stream        Poisson counts against the twin's hour-of-week rates (±30%)
  handling time per pool     the hour's mean log handling time per task type against the twin's
                             law, its variance from the spread within and between people (±20%)
  accuracy on golden answers the hour's share right per pool against the twin's accuracy, the
                             streams' difficulty included (±5 points)

each looking for an increase and a decrease, restarted after each alarm. Thresholds come from
simulating the tests under the twin, with the twin's own estimation error (the side file of
`tessera calibrate`, found beside the twin) drawn once per simulated period: each threshold is
the least at which the expected number of false alarms of a metric in --false-alarm-days of
unchanged operation is at most one, split evenly over that metric's tests (streams or pools, both
directions). Each test states its detection delay: the hours within which the change it looks
for is caught with probability 0.9, from the start of the change.

The JSON report (--out, schema tessera.drift/1) holds the tests, their thresholds and what each
compares against, so it is also a monitor: `--monitor drift.json` runs its tests over another
trace as they are (no simulation), and `tessera serve --drift PROJECT=drift.json` runs them over
a live project's events as they are decided, with gauges on /metrics.

Examples:
  tessera calibrate last-quarter.jsonl --base ops.toml --out twin.toml
  tessera drift this-week.jsonl --against twin.toml
  tessera drift this-week.jsonl --against twin.toml --handling-shift 0.1 --out drift.json
  tessera drift next-week.jsonl --monitor drift.json

Output: a table of the tests (threshold, delay, alarms with the hour they were raised) and, with
--out, the same as JSON. Exit status: 0 when no test alarmed; 4 when one did; 1 on an error.";

#[derive(clap::Args, Debug)]
pub struct DriftArgs {
    /// The operation's event trace (JSON lines, schema tessera.trace/2)
    pub trace: PathBuf,
    /// The twin: a scenario, usually written by `tessera calibrate`
    #[arg(long, required_unless_present = "monitor")]
    pub against: Option<PathBuf>,
    /// Run the tests of an earlier report (`--out` of `tessera drift`) as they are, thresholds
    /// and all, instead of building them from a twin
    #[arg(long, conflicts_with_all = ["against", "side", "false_alarm_days", "arrival_shift", "handling_shift", "accuracy_shift", "paths", "seed"])]
    pub monitor: Option<PathBuf>,
    /// The twin's side file of intervals [default: the twin's path with .calibration.json, when it exists]
    #[arg(long)]
    pub side: Option<PathBuf>,
    /// At most one false alarm per metric in this many days of unchanged operation
    #[arg(long, default_value_t = 90.0)]
    pub false_alarm_days: f64,
    /// Relative change of arrival rates to detect
    #[arg(long, default_value_t = 0.3)]
    pub arrival_shift: f64,
    /// Relative change of handling times to detect
    #[arg(long, default_value_t = 0.2)]
    pub handling_shift: f64,
    /// Change of accuracy on golden answers to detect [share]
    #[arg(long, default_value_t = 0.05)]
    pub accuracy_shift: f64,
    /// Simulated periods behind each threshold and delay
    #[arg(long, default_value_t = 1000)]
    pub paths: u32,
    /// Seed of those simulations
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub read: super::trace_read::TraceReadArgs,
    /// Also write the tests and their alarms as JSON
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Print nothing but errors
    #[arg(long, short)]
    pub quiet: bool,
}

pub fn run(a: DriftArgs) -> Result<()> {
    if !(a.false_alarm_days >= 1.0 && a.false_alarm_days <= 3650.0) {
        bail!("--false-alarm-days {}: expected between 1 and 3650", a.false_alarm_days);
    }
    for (name, v, hi) in [("--arrival-shift", a.arrival_shift, 0.95), ("--handling-shift", a.handling_shift, 0.95), ("--accuracy-shift", a.accuracy_shift, 0.5)] {
        if !(v > 0.0 && v <= hi) {
            bail!("{name} {v}: expected a change above 0 and at most {hi}");
        }
    }
    if !(10..=100_000).contains(&a.paths) {
        bail!("--paths {}: expected between 10 and 100000", a.paths);
    }
    let path = a.trace.clone();
    let open = move || -> std::io::Result<Box<dyn BufRead>> { Ok(Box::new(BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?))) };
    let read = a.read.options()?;
    let origin = a.trace.display().to_string();
    let (report, against) = match (&a.monitor, &a.against) {
        (Some(m), _) => {
            let report = load_monitor(m)?;
            if a.read.group_by.is_some() && read.group_by != report.group_by {
                bail!("--group-by: the tests of {} name pools grouped by {}; leave --group-by out to read the trace that way", m.display(), format!("{:?}", report.group_by).to_lowercase());
            }
            let reader = open().with_context(|| format!("cannot open the trace {}", a.trace.display()))?;
            (tessera_calibrate::drift::run(reader, &origin, &read, report)?, format!("the tests of {}", m.display()))
        }
        (None, Some(against)) => {
            let twin = super::load_scenario(against, &[])?;
            let side_path = a.side.clone().or_else(|| {
                let stem = against.file_stem()?.to_string_lossy().into_owned();
                Some(against.with_file_name(format!("{stem}.calibration.json"))).filter(|p| p.exists())
            });
            let side: Option<serde_json::Value> = match &side_path {
                Some(p) => Some(serde_json::from_slice(&std::fs::read(p).with_context(|| format!("cannot read the side file {}", p.display()))?).with_context(|| format!("{}: not a calibration side file (JSON)", p.display()))?),
                None => None,
            };
            let opts = DriftOptions { false_alarm_days: a.false_alarm_days, arrival_shift: a.arrival_shift, handling_shift: a.handling_shift, accuracy_shift: a.accuracy_shift, paths: a.paths, seed: a.seed };
            let report = drift(&open, &origin, &read, &twin, side.as_ref(), &opts)?;
            (report, format!("{}{}", against.display(), side_path.as_ref().map(|p| format!(" (estimation error from {})", p.display())).unwrap_or_default()))
        }
        (None, None) => bail!("give the twin (--against SCENARIO) or the tests of an earlier report (--monitor drift.json)"),
    };
    let alarmed = report.tests.iter().any(|t| !t.alarms.is_empty());
    if !a.quiet {
        println!("{} h of trace against {against}", (report.span_h * 10.0).round() / 10.0);
        println!("  {:<14} {:<28} {:>5} {:>8} {:>10} {:>14}  alarms", "metric", "key", "look", "change", "threshold", "delay p90 [h]");
        for t in &report.tests {
            let metric = match t.metric {
                Metric::Arrivals => "arrivals",
                Metric::HandlingTime => "handling time",
                Metric::GoldAccuracy => "gold accuracy",
            };
            let change = if t.metric == Metric::GoldAccuracy { format!("{:+.0} pt", t.direction as f64 * t.shift * 100.0) } else { format!("{:+.0}%", t.direction as f64 * t.shift * 100.0) };
            let look = if t.direction > 0 { "up" } else { "down" };
            let alarms = match t.alarms.first() {
                None => "none".to_string(),
                Some(first) if t.alarm_count as usize == t.alarms.len() => format!("{} (first at hour {:.0})", t.alarm_count, first.at_h),
                Some(_) => format!("{} (the last at hour {:.0})", t.alarm_count, t.alarms.last().map_or(0.0, |a| a.at_h)),
            };
            let delay = if t.delay_p90_h.is_finite() { format!("{:.0}", t.delay_p90_h) } else { "never".into() };
            println!("  {:<14} {:<28} {:>5} {:>8} {:>10.2} {:>14}  {alarms}", metric, t.key, look, change, t.threshold, delay);
        }
        for n in &report.not_tested {
            println!("note: {n}");
        }
    }
    if let Some(out) = &a.out {
        std::fs::write(out, serde_json::to_string_pretty(&report)? + "\n").with_context(|| format!("cannot write {}", out.display()))?;
    }
    if alarmed {
        eprintln!("drift: the operation no longer looks like its twin on the tests marked above");
        std::process::exit(4);
    }
    Ok(())
}

/// A drift report read back as a monitor, checked.
pub fn load_monitor(path: &std::path::Path) -> Result<DriftReport> {
    let text = std::fs::read(path).with_context(|| format!("cannot read the drift report {}", path.display()))?;
    DriftReport::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}
