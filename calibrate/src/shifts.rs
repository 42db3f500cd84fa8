//! Shift calendars from activity: the share of a pool's people on shift in each 15-minute slot
//! of the week; the pool's calendar is the slots where most of them are, written in the
//! scenario's own syntax (`"mon-fri 09:00-17:00"`), when people share it.

use crate::tally::{PoolTally, SLOTS};

/// Share of slot-time allowed in the undecided band (between a fifth and four fifths of the
/// pool on shift) before the pool's people are said to keep different shifts.
pub const MIXED_SHARE: f64 = 0.1;

/// A fitted calendar.
#[derive(Clone, Debug, PartialEq)]
pub enum ShiftFit {
    /// On shift all week (no calendar).
    Always,
    /// Shift lines in the scenario's syntax.
    Lines(Vec<String>),
    /// Not identified, with the reason.
    Unknown(String),
}

const DAY: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn clock(slot: usize) -> String {
    let m = slot * 15;
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The calendar of one pool from its on-shift time and the slots' exposure [h].
pub fn fit(pool: &PoolTally, exposure: &[f64]) -> ShiftFit {
    let people = pool.annotators.len() as f64;
    if people == 0.0 || pool.on_shift_area.iter().all(|a| *a == 0.0) {
        return ShiftFit::Unknown("no on-shift events in the trace".into());
    }
    if exposure.iter().any(|e| *e <= 0.0) {
        return ShiftFit::Unknown("the trace covers less than a week, so a weekly calendar is not identified".into());
    }
    let share: Vec<f64> = pool.on_shift_area.iter().zip(exposure).map(|(a, e)| a / (e * people)).collect();
    let mixed = share.iter().filter(|s| **s > 0.2 && **s < 0.8).count() as f64 / SLOTS as f64;
    if mixed > MIXED_SHARE {
        return ShiftFit::Unknown(format!(
            "people keep different shifts ({:.0}% of the week has between a fifth and four fifths of the pool on shift): split the pool by shift; one calendar for all would be wrong",
            mixed * 100.0
        ));
    }
    let on: Vec<bool> = share.iter().map(|s| *s >= 0.5).collect();
    if on.iter().all(|o| *o) {
        return ShiftFit::Always;
    }
    // Each day's intervals [slot, slot) within the day (a shift over midnight ends at 24:00 and
    // goes on the next day, which the calendar merges back).
    let per_day: Vec<Vec<(usize, usize)>> = (0..7)
        .map(|d| {
            let mut out = vec![];
            let mut start = None;
            for i in 0..=96 {
                let is_on = i < 96 && on[d * 96 + i];
                match (is_on, start) {
                    (true, None) => start = Some(i),
                    (false, Some(s)) => {
                        out.push((s, i));
                        start = None;
                    }
                    _ => {}
                }
            }
            out
        })
        .collect();
    // Days with the same intervals on one line, consecutive days as a range.
    let mut lines = vec![];
    let mut done = [false; 7];
    for d in 0..7 {
        if done[d] || per_day[d].is_empty() {
            continue;
        }
        let same: Vec<usize> = (d..7).filter(|&e| !done[e] && per_day[e] == per_day[d]).collect();
        for &e in &same {
            done[e] = true;
        }
        let days = if same.len() > 1 && same.windows(2).all(|w| w[1] == w[0] + 1) {
            format!("{}-{}", DAY[same[0]], DAY[*same.last().unwrap_or(&d)])
        } else {
            same.iter().map(|&e| DAY[e]).collect::<Vec<_>>().join(",")
        };
        for &(s, e) in &per_day[d] {
            let end = if e == 96 { "24:00".to_string() } else { clock(e) };
            lines.push(format!("{days} {}-{end}", clock(s)));
        }
    }
    ShiftFit::Lines(lines)
}
