//! `tessera forecast`: weekly cost with P10/P50/P90 bands over replications, headcount needed,
//! cost per final label by task type, budget burn, accuracy and deadline attainment, from the
//! scenario's arrivals or a demand CSV (the planner's `stream,start,count` schema).

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use std::path::PathBuf;
use tessera_engine::metrics::periods::PeriodRow;
use tessera_engine::metrics::stats::percentile_sorted;
use tessera_engine::run::{run_replications_each, Keep};
use tessera_engine::spec::{ArrivalSpec, CurveInterval};
use tessera_engine::time::{parse_duration, Dur, US_PER_DAY};
use tessera_reports::chart::{Bar, Chart, Line, Plot};
use tessera_reports::html::{cell, Block, Page, Section};

/// Occupancy at which the headcount needed is counted (the planner's default cap).
pub const OCCUPANCY: f64 = 0.85;

pub const LONG_ABOUT: &str = "Forecast what an operation will cost week by week, with uncertainty.

Runs the scenario over --horizon from time zero (no warm-up) --replications times and reports, per week:
  cost              P10 / P50 / P90 over replications [USD]: hourly pay for on-shift time, per-item pay, model fees
  budget burn       cumulative cost against --budget, and the week the P50 (and P90) run out
  headcount needed  annotators to do the week's busy hours at 85% occupancy on the scenario's shifts:
                    busy hours / (0.85 × on-shift hours per rostered annotator); compare with the roster
  cost per label    by task type: pay for time on the type's items / its final labels that week
                    (idle paid time, golden tasks and models are overhead, shown in the total)
  accuracy, deadline attainment (final labels of tasks with a deadline, final by it)

Demand: the scenario's arrivals, or --demand DEMAND.csv with rows stream,start,count (the schema of
`tessera staffing --demand`): each listed stream gets count tasks in each interval, as a Poisson
process at count/length; streams not in the file keep the scenario's arrivals.

Writes DIR/forecast.csv (one row per week), DIR/forecast_runs.csv (one row per replication and
week: the draws behind the bands) and DIR/report.html (charts also in DIR/charts/).

Examples:
  tessera forecast scenarios/ecommerce-surge.toml --horizon 13w --budget 60000
  tessera forecast scenarios/mmc.toml --horizon 8w --demand demand.csv -r 40";

#[derive(Args, Debug)]
pub struct ForecastArgs {
    /// Scenario file (TOML)
    pub scenario: PathBuf,
    /// How far to forecast: a duration such as 13w, 90d (whole weeks are reported; a last
    /// partial week is reported as such)
    #[arg(long, default_value = "13w")]
    pub horizon: String,
    /// Demand curve CSV (stream,start,count) replacing the arrivals of the streams it names
    #[arg(long, value_name = "DEMAND.csv")]
    pub demand: Option<PathBuf>,
    /// Budget [USD] for the whole horizon: the report draws the burn against it
    #[arg(long, value_name = "USD")]
    pub budget: Option<f64>,
    /// Replications (the bands are their P10 and P90)
    #[arg(long, short = 'r', default_value_t = 20)]
    pub replications: u32,
    /// Seed of the first replication [default: the scenario's run.seed]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Change one scenario field (repeatable), as in `tessera simulate --set`
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Output folder [default: out/<scenario name>-forecast]
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// P10, P50, P90 of some draws.
fn bands(mut xs: Vec<f64>) -> [f64; 3] {
    xs.retain(|x| x.is_finite());
    xs.sort_by(f64::total_cmp);
    [0.1, 0.5, 0.9].map(|q| percentile_sorted(&xs, q))
}

pub fn run(a: ForecastArgs) -> Result<()> {
    let horizon = parse_duration(&a.horizon).map_err(|e| anyhow::anyhow!("--horizon: {e}"))?;
    if horizon.0 == 0 || horizon.0 > 520 * 7 * US_PER_DAY {
        bail!("--horizon {}: expected between 1 s and 520 weeks", a.horizon);
    }
    if let Some(b) = a.budget {
        if !(b.is_finite() && b > 0.0) {
            bail!("--budget {b}: expected a positive amount in USD");
        }
    }
    let mut set = a.set.clone();
    set.push(format!("run.horizon={}s", horizon.0 / 1_000_000));
    set.push("run.warmup=0s".into());
    let loaded = super::load_scenario_with(&a.scenario, &[], &set)?;
    let mut scenario = loaded.scenario;
    if !a.quiet {
        for w in &loaded.warnings {
            eprintln!("warning: {w}");
        }
    }
    let mut from_csv = Vec::new();
    if let Some(path) = &a.demand {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {name}"))?;
        let demand = tessera_planner::demand::read_demand(&text, &name).map_err(anyhow::Error::msg)?;
        if demand.quantity != tessera_planner::demand::Quantity::Count {
            bail!("{name}: a forecast needs arrivals (a count column), not agents (required)");
        }
        for sd in &demand.streams {
            let Some(i) = (0..scenario.streams.len()).find(|&i| scenario.stream_name(i) == sd.name) else {
                let line = sd.intervals.first().map_or(1, |i| i.line);
                bail!("{name}:{line}: stream {:?} is not in the scenario (its streams: {})", sd.name, (0..scenario.streams.len()).map(|i| scenario.stream_name(i)).collect::<Vec<_>>().join(", "));
            };
            scenario.streams[i].arrivals = ArrivalSpec::Curve { intervals: sd.intervals.iter().map(|iv| CurveInterval { start: Dur(iv.start), end: Dur(iv.end), count: iv.value }).collect() };
            from_csv.push(sd.name.clone());
        }
    }
    let seed = a.seed.unwrap_or(scenario.run.seed);
    let reps = a.replications;
    if !(2..=1_000).contains(&reps) {
        bail!("--replications {reps}: expected 2 to 1,000 (bands need several draws; every replication's weeks are kept for forecast_runs.csv)");
    }
    let types = tessera_engine::core::setup::setup(&scenario).map_err(anyhow::Error::msg)?.types;
    let roster: f64 = scenario.pools.iter().map(|p| p.count.max(0) as f64).sum();
    let name = scenario.name.clone().unwrap_or_else(|| "scenario".into());
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("out").join(format!("{}-forecast", super::simulate::folder_name(&name))));
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;

    let week = 7 * US_PER_DAY;
    let routing = scenario.routing.clone();
    let make_router = move || tessera_policies::router_for(&routing).expect("validated policy name");
    let bar = ProgressBar::with_draw_target(Some(reps as u64), if a.quiet { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() });
    bar.set_style(ProgressStyle::with_template("{spinner} forecast {msg} [{bar:30}] {pos}/{len} replications ({elapsed} / ~{eta})").unwrap().progress_chars("=> "));
    bar.set_message(name.clone());
    let mut runs: Vec<Vec<PeriodRow>> = Vec::new();
    let keep = Keep { period_us: Some(week), ..Keep::default() };
    run_replications_each(&scenario, &make_router, seed, reps, keep, &|_, f| {
        if f >= 1.0 {
            bar.inc(1);
        }
    }, &mut |o| runs.push(o.periods))
    .map_err(anyhow::Error::msg)?;
    bar.finish_and_clear();

    let weeks = runs.iter().map(Vec::len).min().unwrap_or(0);
    let last_days = (horizon.0 - (weeks as u64 - 1) * week) as f64 / US_PER_DAY as f64;
    let per_annotator = |r: &PeriodRow| if roster > 0.0 { r.on_shift_h / roster } else { f64::NAN };
    let headcount = |r: &PeriodRow| {
        let h = per_annotator(r);
        if h > 0.0 { r.busy_h / (OCCUPANCY * h) } else { f64::NAN }
    };
    let ratio = |n: f64, d: f64| if d > 0.0 { n / d } else { f64::NAN };

    // forecast_runs.csv: every draw.
    let mut rows_csv = String::from("replication,week,cost_usd,hourly_usd,item_usd,model_usd,arrivals,finals,correct,with_deadline,deadline_met,busy_h,on_shift_h,headcount_needed\n");
    for (r, run) in runs.iter().enumerate() {
        for (w, p) in run.iter().take(weeks).enumerate() {
            let _ = writeln!(rows_csv, "{r},{},{},{},{},{},{},{},{},{},{},{},{},{}", w + 1, p.cost_usd(), p.hourly_usd, p.item_usd, p.model_usd, p.arrivals, p.finals, p.correct, p.with_deadline, p.deadline_met, p.busy_h, p.on_shift_h, headcount(p));
        }
    }
    std::fs::write(out.join("forecast_runs.csv"), rows_csv).with_context(|| format!("cannot write {}", out.join("forecast_runs.csv").display()))?;

    // forecast.csv: bands per week.
    let mut csv = String::from("week,days,cost_p10_usd,cost_p50_usd,cost_p90_usd,cumulative_p10_usd,cumulative_p50_usd,cumulative_p90_usd,headcount_needed_p10,headcount_needed_p50,headcount_needed_p90,roster,finals_mean,accuracy,deadline_attainment");
    for t in &types {
        let _ = write!(csv, ",cost_per_final_label_usd:{}", t.replace([',', '"', '\n'], "_"));
    }
    csv.push('\n');
    let mut cost_b = Vec::new();
    let mut cum_b = Vec::new();
    let mut head_b = Vec::new();
    let mut acc = Vec::new();
    let mut dl = Vec::new();
    let mut per_type: Vec<Vec<f64>> = vec![Vec::new(); types.len()];
    let mut cum = vec![0.0; runs.len()];
    for w in 0..weeks {
        let rows: Vec<&PeriodRow> = runs.iter().map(|r| &r[w]).collect();
        for (c, r) in cum.iter_mut().zip(&rows) {
            *c += r.cost_usd();
        }
        let cb = bands(rows.iter().map(|r| r.cost_usd()).collect());
        let ub = bands(cum.clone());
        let hb = bands(rows.iter().map(|r| headcount(r)).collect());
        let sum = |f: fn(&PeriodRow) -> f64| rows.iter().map(|r| f(r)).sum::<f64>();
        let accuracy = ratio(sum(|r| r.correct as f64), sum(|r| r.finals as f64));
        let attain = ratio(sum(|r| r.deadline_met as f64), sum(|r| r.with_deadline as f64));
        let days = if w + 1 == weeks { last_days } else { 7.0 };
        let _ = write!(csv, "{},{days},{},{},{},{},{},{},{},{},{},{roster},{},{},{}", w + 1, cb[0], cb[1], cb[2], ub[0], ub[1], ub[2], hb[0], hb[1], hb[2], sum(|r| r.finals as f64) / rows.len() as f64, accuracy, attain);
        for (t, col) in per_type.iter_mut().enumerate() {
            let v = ratio(rows.iter().map(|r| r.by_type[t].1).sum(), rows.iter().map(|r| r.by_type[t].0 as f64).sum());
            col.push(v);
            let _ = write!(csv, ",{v}");
        }
        csv.push('\n');
        cost_b.push(cb);
        cum_b.push(ub);
        head_b.push(hb);
        acc.push(accuracy);
        dl.push(attain);
    }
    std::fs::write(out.join("forecast.csv"), &csv).with_context(|| format!("cannot write {}", out.join("forecast.csv").display()))?;

    let runs_out = |q: usize| a.budget.and_then(|b| cum_b.iter().position(|c| c[q] > b).map(|w| w + 1));
    let page = report(&name, &a, seed, reps, roster, &types, &from_csv, &cost_b, &cum_b, &head_b, &acc, &dl, &per_type, runs_out(1), runs_out(2));
    page.write(&out, "report.html")?;

    if !a.quiet {
        println!("forecast {name}: {weeks} weeks × {reps} replications, seed {seed}{}", if from_csv.is_empty() { String::new() } else { format!(", demand from {} for {}", a.demand.as_ref().unwrap().display(), from_csv.join(", ")) });
        println!("  week   cost P10 / P50 / P90 [USD]          cumulative P50   headcount needed P50 (roster {roster})   accuracy   deadlines met");
        for w in 0..weeks {
            println!("  {:>4}   {:>10} / {:>10} / {:>10}   {:>14}   {:>8}                          {:>8}   {:>8}", w + 1, cell(cost_b[w][0]), cell(cost_b[w][1]), cell(cost_b[w][2]), cell(cum_b[w][1]), cell(head_b[w][1]), pct(acc[w]), pct(dl[w]));
        }
        if let Some(b) = a.budget {
            match runs_out(1) {
                Some(w) => println!("  budget {} USD runs out in week {w} at the median (week {} at P90)", cell(b), runs_out(2).map_or("-".into(), |x| x.to_string())),
                None => println!("  budget {} USD lasts the horizon at the median (P90 total {} USD)", cell(b), cell(cum_b.last().map_or(f64::NAN, |c| c[2]))),
            }
        }
        println!("  wrote {}/forecast.csv, forecast_runs.csv, report.html", out.display());
    }
    Ok(())
}

fn pct(x: f64) -> String {
    if x.is_finite() { format!("{:.1}%", x * 100.0) } else { "n/a".into() }
}

#[allow(clippy::too_many_arguments)]
fn report(name: &str, a: &ForecastArgs, seed: u64, reps: u32, roster: f64, types: &[String], from_csv: &[String], cost: &[[f64; 3]], cum: &[[f64; 3]], head: &[[f64; 3]], acc: &[f64], dl: &[f64], per_type: &[Vec<f64>], out50: Option<usize>, out90: Option<usize>) -> Page {
    let x = |w: usize| (w + 1) as f64;
    let band_line = |label: &str, b: &[[f64; 3]]| {
        let mut l = Line::new(label, b.iter().enumerate().map(|(w, v)| (x(w), v[1])).collect());
        l.band = b.iter().enumerate().map(|(w, v)| (x(w), v[0], v[2])).collect();
        l
    };
    let mut burn = vec![band_line("cumulative cost (P50, band P10–P90)", cum)];
    let mut burn_text = "No budget given (--budget).".to_string();
    if let Some(b) = a.budget {
        let mut l = Line::new(format!("budget {} USD", cell(b)), (0..cum.len()).map(|w| (x(w), b)).collect());
        l.dashed = true;
        burn.push(l);
        burn_text = match out50 {
            Some(w) => format!("The budget of {} USD runs out in week {w} at the median{}.", cell(b), out90.map_or(String::new(), |w9| format!(" (week {w9} if costs run at P90)"))),
            None => format!("The budget of {} USD lasts the horizon at the median{}.", cell(b), out90.map_or(String::new(), |w9| format!("; at P90 it runs out in week {w9}"))),
        };
    }
    let mut roster_line = Line::new(format!("rostered ({roster})"), (0..head.len()).map(|w| (x(w), roster)).collect());
    roster_line.dashed = true;
    let quality = vec![Line::new("accuracy", acc.iter().enumerate().map(|(w, v)| (x(w), *v)).collect()), Line::new("deadlines met", dl.iter().enumerate().map(|(w, v)| (x(w), *v)).collect())];
    let type_lines: Vec<Line> = types.iter().zip(per_type).map(|(t, v)| Line::new(t.clone(), v.iter().enumerate().map(|(w, c)| (x(w), *c)).collect())).collect();
    let totals: Vec<Bar> = types.iter().zip(per_type).map(|(t, v)| {
        let f: Vec<f64> = v.iter().copied().filter(|c| c.is_finite()).collect();
        Bar { label: t.clone(), value: if f.is_empty() { f64::NAN } else { f.iter().sum::<f64>() / f.len() as f64 }, half_width: None }
    }).collect();
    Page {
        title: format!("Cost forecast: {name}"),
        subtitle: vec![
            format!("{} weeks, {reps} replications from seed {seed}; bands are P10–P90 over replications", cost.len()),
            if from_csv.is_empty() { "Demand: the scenario's arrivals.".into() } else { format!("Demand: {} for {}; other streams: the scenario's arrivals.", a.demand.as_ref().map_or(String::new(), |p| p.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()), from_csv.join(", ")) },
        ],
        sections: vec![
            Section { heading: "Weekly cost".into(), blocks: vec![Block::Chart(Chart { id: "weekly-cost".into(), title: "Cost per week (P50, band P10–P90)".into(), x_label: "week".into(), y_label: "USD".into(), plot: Plot::Lines { lines: vec![band_line("weekly cost", cost)] }, marker: None })] },
            Section { heading: "Budget burn".into(), blocks: vec![Block::Text(burn_text), Block::Chart(Chart { id: "budget-burn".into(), title: "Cumulative cost against the budget".into(), x_label: "week".into(), y_label: "USD".into(), plot: Plot::Lines { lines: burn }, marker: None })] },
            Section { heading: "Headcount needed".into(), blocks: vec![Block::Text(format!("Annotators needed to do each week's busy hours at {:.0}% occupancy on the scenario's shifts: busy hours / ({OCCUPANCY} × on-shift hours per rostered annotator).", OCCUPANCY * 100.0)), Block::Chart(Chart { id: "headcount".into(), title: "Headcount needed (P50, band P10–P90) and roster".into(), x_label: "week".into(), y_label: "annotators".into(), plot: Plot::Lines { lines: vec![band_line("needed", head), roster_line] }, marker: None })] },
            Section {
                heading: "Cost per final label by task type".into(),
                blocks: vec![
                    Block::Text("Pay for time on the type's items (hourly pay for the lease, per-item pay) divided by its final labels in the week, over all replications; idle paid time, golden tasks and model fees are overhead and not in it.".into()),
                    Block::Chart(Chart { id: "cost-per-label".into(), title: "Direct cost per final label by week".into(), x_label: "week".into(), y_label: "USD per final label".into(), plot: Plot::Lines { lines: type_lines }, marker: None }),
                    Block::Chart(Chart { id: "cost-per-label-mean".into(), title: "Direct cost per final label, mean of the weeks".into(), x_label: "USD per final label".into(), y_label: String::new(), plot: Plot::Bars { bars: totals }, marker: None }),
                ],
            },
            Section { heading: "Accuracy and deadlines".into(), blocks: vec![Block::Chart(Chart { id: "quality".into(), title: "Accuracy of final labels and deadline attainment".into(), x_label: "week".into(), y_label: "share".into(), plot: Plot::Lines { lines: quality }, marker: None })] },
        ],
    }
}
