//! `tessera staffing`: agents for a service level (Erlang C / Erlang A), and rosters on shifts.
//! A thin shell over tessera-planner: parse, call, print.

use super::Format;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tessera_planner::schedule::{fmt_offset, schedule, Roster, Settings};
use tessera_planner::shifts::read_shifts;
use tessera_planner::staffing::{figures, staff, Binding, Staffing, Target};
use tessera_planner::{demand::read_demand, requirements, to_requirements, IntervalNeed};

pub const LONG_ABOUT: &str = "\
How many agents a queue needs to meet a service level, and (with a demand curve and shift
patterns) how many to roster on each shift.

One queue:  tessera staffing --arrivals-per-hour 200 --handling-time 180s --service-level 0.8 \\
                --within 20s --max-occupancy 0.85 --shrinkage 0.3
  Erlang C (M/M/N: Poisson arrivals, exponential handling, nobody leaves the queue). With
  --patience (a mean patience, exponential) it is Erlang A (M/M/N+M, Palm's model): waiting
  tasks abandon, and an abandoned task counts as a miss.
  1. agents for service level: the smallest N with P(answered within --within) ≥ --service-level;
  2. agents: raised, if needed, until occupancy ≤ --max-occupancy (Erlang C: N = ⌈A / cap⌉);
  3. rostered: ⌈agents / (1 − shrinkage)⌉, the headcount that leaves `agents` at work after
     breaks, meetings, training and absence (shrinkage = the share of paid time not working).
  Beside it, the square-root staffing rule N = ⌈A + β·√A⌉, with β the smallest meeting the target
  by Halfin–Whitt's approximation P(wait) ≈ α(β) = 1/(1 + β·Φ(β)/φ(β)), P(W ≤ t) ≈ 1 − α·e^{−β√A·t/h}.
  With --agents N, the figures at N agents instead of a search.

Definitions: offered load A = arrivals/h × handling time / 3600 s [Erlang]; P(wait) = the share
of arrivals that find every agent busy; service level = the share answered within --within;
mean wait over all arrivals (those served at once count 0; abandoners count until they leave);
occupancy = the share of agents' time spent handling (served work only).

Example (pyworkforce's test case):
  $ tessera staffing --arrivals-per-hour 200 --handling-time 180s --within 20s --max-occupancy 0.85 --shrinkage 0.3
  agents 14, rostered 20, P(wait) 0.174132, service level 0.888350, mean wait 7.836 s

A demand curve:  tessera staffing --demand demand.csv --handling-time 180s --shifts shifts.csv
  demand.csv has the columns stream,start,count (arrivals per interval) or stream,start,required
  (agents per interval, used as given). start is an offset from the plan's start with its unit
  (0h, 30min, 32h); offset 0 is a Monday 00:00. Intervals are inferred per stream from
  consecutive starts (the last one is as long as the one before). Each interval is staffed as
  above at its rate; each stream has its own pool of agents (streams are not pooled).
  shifts.csv has the columns name,start,length[,days,break_start,break_length,cost], e.g.
    name,start,length,days,break_start,break_length,cost
    early,06:00 06:30 07:00,8h,mon-fri,4h,30min,8
  start: one or more HH:MM; days: all, mon-fri, sat-sun or \"mon,wed,fri\"; the break is an
  offset from the shift's start and a length; cost per agent per shift (default 1).
  A shift-scheduling MILP (good_lp + microlp) then picks the agents on each shift instance (a
  pattern on one day at one start) covering every interval at the lowest cost; an interval
  covered short costs --under-penalty per missing agent (default: 10 × the dearest shift's cost,
  so anything a shift can cover is covered; `off` makes coverage a hard constraint).

Output: a table, or with --format json one object whose keys carry their units (_s, _min,
_per_hour, _erlang, _fraction; p_ = a probability). Errors (exit 1): a rate ≤ 0, a service level
outside (0, 1), an occupancy cap outside (0, 1], shrinkage outside [0, 1), a load needing more than
100,000 agents, a bad row (file:line and field), an interval no shift covers with --under-penalty off.";

/// Agents for a service level (Erlang C / Erlang A), and a roster on shift patterns (MILP).
#[derive(clap::Args, Debug)]
#[command(long_about = LONG_ABOUT)]
pub struct StaffingArgs {
    /// Arrivals per hour [tasks/h] of one queue.
    #[arg(long, value_name = "X", conflicts_with = "demand", allow_hyphen_values = true)]
    pub arrivals_per_hour: Option<f64>,
    /// Mean handling time, with its unit (180s, 3min).
    #[arg(long, value_name = "DURATION", value_parser = parse_secs)]
    pub handling_time: Option<f64>,
    /// Share of arrivals to answer within --within: 0.8 or 80%.
    #[arg(long, default_value = "0.8", value_parser = parse_share, allow_hyphen_values = true)]
    pub service_level: f64,
    /// The service level's threshold, with its unit.
    #[arg(long, default_value = "20s", value_parser = parse_secs)]
    pub within: f64,
    /// Largest occupancy allowed, in (0, 1].
    #[arg(long, default_value = "1", value_parser = parse_share, allow_hyphen_values = true)]
    pub max_occupancy: f64,
    /// Share of rostered time not available for work, in [0, 1).
    #[arg(long, default_value = "0", value_parser = parse_share, allow_hyphen_values = true)]
    pub shrinkage: f64,
    /// Mean patience (exponential), with its unit: Erlang A instead of Erlang C.
    #[arg(long, value_name = "DURATION", value_parser = parse_secs)]
    pub patience: Option<f64>,
    /// Figures at this many agents instead of searching for the fewest.
    #[arg(long, value_name = "N", conflicts_with = "demand")]
    pub agents: Option<u32>,
    /// Demand curve CSV: stream,start,count (or stream,start,required).
    #[arg(long, value_name = "DEMAND.csv")]
    pub demand: Option<PathBuf>,
    /// Shift patterns CSV: name,start,length[,days,break_start,break_length,cost].
    #[arg(long, value_name = "SHIFTS.csv", requires = "demand")]
    pub shifts: Option<PathBuf>,
    /// Cost per missing agent per interval, or `off` (coverage required). Default: 10 × the dearest shift's cost.
    #[arg(long, value_name = "COST|off")]
    pub under_penalty: Option<String>,
    /// Relative MIP gap at which the solver may stop (0 = proven optimal).
    #[arg(long, default_value = "0", value_parser = parse_share)]
    pub mip_gap: f64,
    /// Stop the solver after this long with the best roster so far, with its unit.
    #[arg(long, value_name = "DURATION", value_parser = parse_secs)]
    pub time_limit: Option<f64>,
    /// The shift-scheduling MILP's solver: microlp (pure Rust) or highs (finds cheaper rosters on
    /// large instances, slower to a 1% gap; only in a build with `--features highs`, which needs
    /// cmake and libclang-dev)
    #[arg(long, default_value = "microlp", value_parser = tessera_planner::schedule::Solver::parse)]
    pub solver: tessera_planner::schedule::Solver,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}


fn parse_secs(s: &str) -> Result<f64, String> {
    tessera_engine::time::parse_duration(s).map(|d| d.secs())
}

/// 0.8 or 80%.
fn parse_share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 0.01),
        None => (t, 1.0),
    };
    let v: f64 = num.parse().map_err(|_| format!("expected a share such as 0.8 or 80%, found {s:?}"))?;
    if !v.is_finite() {
        return Err(format!("expected a finite share, found {s:?}"));
    }
    Ok(v * scale)
}

fn target(a: &StaffingArgs, per_hour: f64) -> Result<Target> {
    let Some(h) = a.handling_time else { bail!("--handling-time is required (the mean time to handle one task, e.g. 180s)") };
    Ok(Target { arrivals_per_hour: per_hour, handling_s: h, service_level: a.service_level, within_s: a.within, max_occupancy: a.max_occupancy, shrinkage: a.shrinkage, patience_s: a.patience })
}

pub fn run(a: StaffingArgs) -> Result<()> {
    match (&a.demand, a.arrivals_per_hour) {
        (Some(_), _) => run_demand(&a),
        (None, Some(x)) => run_one(&a, x),
        (None, None) => bail!("give --arrivals-per-hour X for one queue, or --demand DEMAND.csv for a demand curve (see tessera staffing --help)"),
    }
}

fn model(t: &Target) -> &'static str {
    if t.patience_s.is_some() { "erlang-a" } else { "erlang-c" }
}

fn run_one(a: &StaffingArgs, per_hour: f64) -> Result<()> {
    let t = target(a, per_hour)?;
    if let Some(n) = a.agents {
        tessera_planner::staffing::check(&t).map_err(anyhow::Error::msg)?;
        if n == 0 || n > tessera_planner::staffing::MAX_AGENTS {
            bail!("--agents must be from 1 to {}", tessera_planner::staffing::MAX_AGENTS);
        }
        let load = per_hour * t.handling_s / 3600.0;
        let Some(f) = figures(&t, n) else { bail!("with {n} agents and an offered load of {load:.2} Erlang the queue grows without bound (Erlang C needs more agents than the load; give --patience for Erlang A)") };
        let rostered = (n as f64 / (1.0 - t.shrinkage) - 1e-9).ceil() as u32;
        if a.format == Format::Json {
            let mut v = inputs_json(&t);
            let o = v.as_object_mut().unwrap();
            o.insert("load_erlang".into(), json!(load));
            o.insert("agents".into(), json!(n));
            o.insert("rostered_agents".into(), json!(rostered));
            o.insert("p_wait".into(), json!(f.p_wait));
            o.insert("service_level_fraction".into(), json!(f.service_level));
            o.insert("mean_wait_s".into(), json!(f.mean_wait_s));
            o.insert("mean_wait_min".into(), json!(f.mean_wait_s / 60.0));
            o.insert("occupancy_fraction".into(), json!(f.occupancy));
            o.insert("p_abandon".into(), json!(f.p_abandon));
            println!("{}", serde_json::to_string_pretty(&v)?);
        } else {
            println!("{} at {n} agents: {} arrivals/h, handling time {} s, offered load {load:.2} Erlang", title(&t), fmt_num(per_hour), fmt_num(t.handling_s));
            print_figures(&t, f.p_wait, f.service_level, f.mean_wait_s, f.occupancy, f.p_abandon);
            println!("  {:<28} {rostered}  (= ⌈{n} / (1 − {})⌉)", format!("rostered (shrinkage {}%)", fmt_num(t.shrinkage * 100.0)), fmt_num(t.shrinkage));
        }
        return Ok(());
    }
    let s = staff(&t).map_err(anyhow::Error::msg)?;
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&staffing_json(&s))?);
        return Ok(());
    }
    println!(
        "{}: {} arrivals/h, handling time {} s, target {}% answered within {} s",
        title(&t),
        fmt_num(per_hour),
        fmt_num(t.handling_s),
        fmt_num(t.service_level * 100.0),
        fmt_num(t.within_s)
    );
    println!("  {:<28} {:.2} Erlang", "offered load A", s.load);
    println!("  {:<28} {}", "agents for service level", s.agents_for_service_level);
    let why = match s.binding {
        Binding::ServiceLevel => "the service level binds",
        Binding::Occupancy => "raised by the occupancy cap",
    };
    println!("  {:<28} {}  ({why})", format!("agents (occupancy ≤ {}%)", fmt_num(t.max_occupancy * 100.0)), s.agents);
    println!("  {:<28} {}  (= ⌈{} / (1 − {})⌉)", format!("rostered (shrinkage {}%)", fmt_num(t.shrinkage * 100.0)), s.rostered, s.agents, fmt_num(t.shrinkage));
    print_figures(&t, s.p_wait, s.service_level, s.mean_wait_s, s.occupancy, s.p_abandon);
    let r = &s.sqrt_rule;
    println!(
        "  {:<28} {}  (N = ⌈A + β·√A⌉ = ⌈{:.2} + {:.3} × {:.3}⌉; β = {:.3} from Halfin–Whitt: P(wait) ≈ 1/(1 + β·Φ(β)/φ(β)) = {:.4}, P(W ≤ t) ≈ 1 − P(wait)·e^(−β·√A·t/h))",
        "square-root rule",
        r.agents,
        s.load,
        r.beta,
        s.load.sqrt(),
        r.beta,
        r.p_wait_approx
    );
    println!("  {:<28} {:.3}  (= ({} − {:.2}) / √{:.2}, the exact answer's β)", "implied β", r.implied_beta, s.agents_for_service_level, s.load, s.load);
    if t.patience_s.is_some() {
        println!("  (the square-root rule is Erlang C's: it ignores abandonment)");
    }
    Ok(())
}

fn title(t: &Target) -> String {
    match t.patience_s {
        None => "Erlang C staffing".into(),
        Some(p) => format!("Erlang A staffing (mean patience {} s)", fmt_num(p)),
    }
}

fn print_figures(t: &Target, p_wait: f64, sl: f64, wait: f64, occ: f64, ab: Option<f64>) {
    println!("  {:<28} {:.6}", "P(wait)", p_wait);
    if let Some(ab) = ab {
        println!("  {:<28} {:.6}", "P(abandon)", ab);
    }
    println!("  {:<28} {:.6}  (share answered within {} s)", "service level", sl, fmt_num(t.within_s));
    println!("  {:<28} {:.3} s = {:.6} min  (over all arrivals)", "mean wait", wait, wait / 60.0);
    println!("  {:<28} {:.6}", "occupancy", occ);
}

/// A number without trailing zeros.
fn fmt_num(x: f64) -> String {
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn inputs_json(t: &Target) -> Value {
    json!({
        "schema": "tessera.staffing/1",
        "model": model(t),
        "arrivals_per_hour": t.arrivals_per_hour,
        "handling_time_s": t.handling_s,
        "service_level_target_fraction": t.service_level,
        "within_s": t.within_s,
        "max_occupancy_fraction": t.max_occupancy,
        "shrinkage_fraction": t.shrinkage,
        "patience_s": t.patience_s,
    })
}

fn staffing_json(s: &Staffing) -> Value {
    let mut v = inputs_json(&s.target);
    let o = v.as_object_mut().unwrap();
    let r = &s.sqrt_rule;
    for (k, x) in [
        ("load_erlang", json!(s.load)),
        ("agents_for_service_level", json!(s.agents_for_service_level)),
        ("agents", json!(s.agents)),
        ("rostered_agents", json!(s.rostered)),
        ("binding", json!(match s.binding { Binding::ServiceLevel => "service_level", Binding::Occupancy => "occupancy" })),
        ("p_wait", json!(s.p_wait)),
        ("service_level_fraction", json!(s.service_level)),
        ("mean_wait_s", json!(s.mean_wait_s)),
        ("mean_wait_min", json!(s.mean_wait_s / 60.0)),
        ("occupancy_fraction", json!(s.occupancy)),
        ("p_abandon", json!(s.p_abandon)),
        ("sqrt_rule", json!({"formula": "agents = ceil(load + beta * sqrt(load))", "beta": r.beta, "agents": r.agents, "p_wait_approx": r.p_wait_approx, "implied_beta": r.implied_beta})),
    ] {
        o.insert(k.into(), x);
    }
    v
}

fn run_demand(a: &StaffingArgs) -> Result<()> {
    let path = a.demand.as_ref().unwrap();
    let name = path.display().to_string();
    let text = read_text(path)?;
    let demand = read_demand(&text, &name).map_err(anyhow::Error::msg)?;
    let template = match demand.quantity {
        tessera_planner::demand::Quantity::Count => {
            let t = target(a, 1.0)?;
            tessera_planner::staffing::check(&t).map_err(anyhow::Error::msg)?;
            t
        }
        tessera_planner::demand::Quantity::Required => Target::default(),
    };
    let needs = requirements(&demand, &template, &name).map_err(anyhow::Error::msg)?;
    let roster = match &a.shifts {
        None => None,
        Some(sp) => {
            let sname = sp.display().to_string();
            let shifts = read_shifts(&read_text(sp)?, &sname).map_err(anyhow::Error::msg)?;
            let dearest = shifts.iter().map(|s| s.cost).fold(0.0, f64::max);
            let under_penalty = match a.under_penalty.as_deref() {
                None => Some(if dearest > 0.0 { 10.0 * dearest } else { 1.0 }),
                Some("off") | Some("none") => None,
                Some(p) => match p.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Some(v),
                    _ => bail!("--under-penalty: expected a cost ≥ 0 per missing agent per interval, or off, found {p:?}"),
                },
            };
            if !(0.0..1.0).contains(&a.mip_gap) {
                bail!("--mip-gap must be in [0, 1), found {}", a.mip_gap);
            }
            let settings = Settings { under_penalty, mip_gap: a.mip_gap, time_limit: a.time_limit, solver: a.solver };
            let r = schedule(&to_requirements(&needs), &shifts, &settings).map_err(anyhow::Error::msg)?;
            Some((shifts, settings, r))
        }
    };
    if a.format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&plan_json(&template, &demand.quantity, &needs, roster.as_ref()))?);
        return Ok(());
    }
    print_plan(&template, &demand.quantity, &needs, roster.as_ref());
    Ok(())
}

fn read_text(p: &std::path::Path) -> Result<String> {
    let meta = std::fs::metadata(p).with_context(|| format!("cannot read {}", p.display()))?;
    if meta.len() > 64 << 20 {
        bail!("{}: {} bytes is more than the 64 MiB a staffing input may be", p.display(), meta.len());
    }
    let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
    String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("{}: not valid UTF-8 text (byte {})", p.display(), e.utf8_error().valid_up_to()))
}

type Plan<'a> = Option<&'a (Vec<tessera_planner::shifts::Shift>, Settings, Roster)>;

fn plan_json(t: &Target, q: &tessera_planner::demand::Quantity, needs: &[(String, Vec<IntervalNeed>)], roster: Plan) -> Value {
    let counts = *q == tessera_planner::demand::Quantity::Count;
    let streams: Vec<Value> = needs
        .iter()
        .enumerate()
        .map(|(p, (name, v))| {
            let intervals: Vec<Value> = v
                .iter()
                .enumerate()
                .map(|(j, i)| {
                    let mut o = json!({
                        "start_offset_s": i.start as f64 / 1e6,
                        "end_offset_s": i.end as f64 / 1e6,
                        "start": fmt_offset(i.start),
                        "required_agents": i.required,
                    });
                    let m = o.as_object_mut().unwrap();
                    if counts {
                        m.insert("arrivals".into(), json!(i.value));
                        m.insert("arrivals_per_hour".into(), json!(i.value / ((i.end - i.start) as f64 / 3.6e9)));
                        m.insert("agents_at_work".into(), json!(i.staffing.map_or(0, |s| s.agents)));
                        m.insert("service_level_fraction".into(), json!(i.staffing.map(|s| s.service_level)));
                    }
                    if let Some((_, _, r)) = roster {
                        let c = r.pools[p].coverage[j];
                        m.insert("covered_agents".into(), json!(c.1));
                        m.insert("missing_agents".into(), json!(c.2));
                    }
                    o
                })
                .collect();
            json!({"name": name, "intervals": intervals})
        })
        .collect();
    let mut v = json!({
        "schema": "tessera.staffing-plan/1",
        "model": if counts { model(t) } else { "given" },
        "quantity": if counts { "count" } else { "required" },
        "streams": streams,
    });
    let o = v.as_object_mut().unwrap();
    if counts {
        o.insert("handling_time_s".into(), json!(t.handling_s));
        o.insert("service_level_target_fraction".into(), json!(t.service_level));
        o.insert("within_s".into(), json!(t.within_s));
        o.insert("max_occupancy_fraction".into(), json!(t.max_occupancy));
        o.insert("shrinkage_fraction".into(), json!(t.shrinkage));
        o.insert("patience_s".into(), json!(t.patience_s));
    }
    if let Some((shifts, settings, r)) = roster {
        let mut entries = Vec::new();
        let mut per_shift = vec![(0u64, 0.0f64); shifts.len()];
        for pool in &r.pools {
            for (i, &n) in pool.agents.iter().enumerate() {
                if n > 0 {
                    let inst = &r.instances[i];
                    entries.push(json!({"stream": pool.name, "shift": shifts[inst.shift].name, "day": inst.day, "start_offset_s": inst.start as f64 / 1e6, "start": fmt_offset(inst.start), "agents": n}));
                    per_shift[inst.shift].0 += n as u64;
                    per_shift[inst.shift].1 += n as f64 * shifts[inst.shift].cost;
                }
            }
        }
        o.insert("roster".into(), json!(entries));
        o.insert("rostered_per_shift".into(), json!(shifts.iter().zip(&per_shift).map(|(s, &(n, c))| json!({"shift": s.name, "agent_shifts": n, "cost": c})).collect::<Vec<_>>()));
        o.insert("shift_cost".into(), json!(r.shift_cost));
        o.insert("under_coverage_agent_intervals".into(), json!(r.under_coverage));
        o.insert("under_penalty_per_agent_interval".into(), json!(settings.under_penalty));
        o.insert("objective".into(), json!(r.objective));
        o.insert("status".into(), json!(r.status));
        o.insert("solver".into(), json!(r.solver));
        o.insert("variables".into(), json!(r.variables));
        o.insert("constraints".into(), json!(r.constraints));
        o.insert("solve_s".into(), json!(r.seconds));
        o.insert("uncoverable_intervals".into(), json!(r.uncoverable.iter().map(|&(p, j)| json!({"stream": needs[p].0, "start": fmt_offset(needs[p].1[j].start)})).collect::<Vec<_>>()));
    }
    v
}

fn print_plan(t: &Target, q: &tessera_planner::demand::Quantity, needs: &[(String, Vec<IntervalNeed>)], roster: Plan) {
    let counts = *q == tessera_planner::demand::Quantity::Count;
    if counts {
        println!(
            "Required agents per interval ({}, handling time {} s, {}% within {} s, occupancy ≤ {}%, shrinkage {}%; each stream its own pool)",
            model(t),
            fmt_num(t.handling_s),
            fmt_num(t.service_level * 100.0),
            fmt_num(t.within_s),
            fmt_num(t.max_occupancy * 100.0),
            fmt_num(t.shrinkage * 100.0)
        );
    } else {
        println!("Required agents per interval (as given)");
    }
    let cov = roster.is_some();
    println!("{:<16} {:<14} {:>9} {:>10} {:>9}{}", "stream", "start", "length", if counts { "arrivals" } else { "" }, "required", if cov { format!(" {:>8} {:>8}", "covered", "missing") } else { String::new() });
    for (p, (name, v)) in needs.iter().enumerate() {
        for (j, i) in v.iter().enumerate() {
            let len = tessera_engine::time::Dur(i.end - i.start).to_string();
            let c = roster.map(|(_, _, r)| r.pools[p].coverage[j]);
            println!(
                "{:<16} {:<14} {:>9} {:>10} {:>9}{}",
                clip(name, 16),
                fmt_offset(i.start),
                len,
                if counts { fmt_num(i.value) } else { String::new() },
                i.required,
                c.map_or(String::new(), |c| format!(" {:>8} {:>8}", c.1, c.2))
            );
        }
    }
    let Some((shifts, settings, r)) = roster else { return };
    println!("\nRoster (agents per shift instance)");
    println!("{:<16} {:<16} {:<14} {:>7}", "stream", "shift", "start", "agents");
    let mut per_shift = vec![(0u64, 0.0f64); shifts.len()];
    for pool in &r.pools {
        for (i, &n) in pool.agents.iter().enumerate() {
            if n > 0 {
                let inst = &r.instances[i];
                println!("{:<16} {:<16} {:<14} {:>7}", clip(&pool.name, 16), clip(&shifts[inst.shift].name, 16), fmt_offset(inst.start), n);
                per_shift[inst.shift].0 += n as u64;
                per_shift[inst.shift].1 += n as f64 * shifts[inst.shift].cost;
            }
        }
    }
    println!("\nRostered per shift pattern");
    for (s, (n, c)) in shifts.iter().zip(&per_shift) {
        println!("  {:<20} {:>6} agent-shifts  cost {}", clip(&s.name, 20), n, fmt_num(*c));
    }
    println!("\n  shift cost                 {}", fmt_num(r.shift_cost));
    match settings.under_penalty {
        Some(p) => println!("  under-coverage             {} agent-intervals (penalty {} each)", r.under_coverage, fmt_num(p)),
        None => println!("  under-coverage             {} (coverage required: --under-penalty off)", r.under_coverage),
    }
    println!("  objective                  {}", fmt_num(r.objective));
    println!("  solver                     {}, {} ({} variables, {} constraints, {:.3} s)", r.solver, r.status, r.variables, r.constraints, r.seconds);
    if !r.uncoverable.is_empty() {
        println!("  warning: {} intervals with a requirement are outside every shift and stay uncovered", r.uncoverable.len());
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n - 1).collect::<String>() + "…" }
}
