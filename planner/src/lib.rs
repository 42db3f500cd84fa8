//! tessera-planner: how many agents, on which shifts, with what overlap.
//!
//! * [`staffing`]: one queue: the fewest agents meeting a service level (Erlang C, or Erlang A
//!   with impatient customers), the occupancy cap, shrinkage to rostered headcount, and the
//!   square-root rule beside it.
//! * [`demand`]: demand curves (`stream,start,count` CSV) and [`requirements`]: agents per
//!   interval and stream.
//! * [`shifts`]: shift patterns (CSV); [`schedule`]: the shift-scheduling MILP (good_lp, microlp)
//!   that rosters agents on shift instances to cover the requirement at the lowest cost.
//! * [`plan`]: `tessera plan`: headcount per pool and overlap per stream for accuracy and
//!   turnaround targets at the lowest cost (the model, majority vote's exact accuracy, the MILP,
//!   and the closed loop that simulates a plan and tightens what it missed).
//!
//! Invariant: no I/O (readers take text and a file name for their errors), no clock but the
//! solver's timer; depends on tessera-engine only.

pub mod demand;
pub mod plan;
pub mod schedule;
pub mod shifts;
pub mod staffing;

use demand::{Demand, Quantity};
use schedule::Requirement;
use staffing::{staff, Staffing, Target};

/// One interval's requirement and, for arrivals, the staffing behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct IntervalNeed {
    pub start: u64,
    pub end: u64,
    /// Arrivals in the interval (Count) or the agents given (Required).
    pub value: f64,
    /// Agents to roster: Erlang staffing's rostered headcount (shrinkage included), or the value given.
    pub required: u32,
    /// None for Required input or an interval with no arrivals.
    pub staffing: Option<Staffing>,
}

/// Agents per interval, stream by stream (each stream is its own pool: requirements are not
/// pooled across streams, which would need fewer agents if agents could take any stream). For
/// arrivals, each interval is staffed as a steady queue at the interval's rate
/// (count / length) with `template`'s handling time, service target, occupancy cap, shrinkage
/// and patience; an interval with no arrivals needs nobody. `file` names the demand in errors.
pub fn requirements(d: &Demand, template: &Target, file: &str) -> Result<Vec<(String, Vec<IntervalNeed>)>, String> {
    let mut out = Vec::with_capacity(d.streams.len());
    for s in &d.streams {
        let mut needs = Vec::with_capacity(s.intervals.len());
        for i in &s.intervals {
            let (required, staffing) = match d.quantity {
                Quantity::Required => (i.value as u32, None),
                Quantity::Count if i.value == 0.0 => (0, None),
                Quantity::Count => {
                    let t = Target { arrivals_per_hour: i.value / i.hours(), ..*template };
                    let st = staff(&t).map_err(|e| format!("{file}:{}: stream {:?}: {e}", i.line, s.name))?;
                    (st.rostered, Some(st))
                }
            };
            needs.push(IntervalNeed { start: i.start, end: i.end, value: i.value, required, staffing });
        }
        out.push((s.name.clone(), needs));
    }
    Ok(out)
}

/// The MILP's input from [`requirements`]' output.
pub fn to_requirements(needs: &[(String, Vec<IntervalNeed>)]) -> Vec<Requirement> {
    needs.iter().map(|(n, v)| Requirement { name: n.clone(), intervals: v.iter().map(|i| (i.start, i.end, i.required)).collect() }).collect()
}
