//! Headcount per pool per shift: `tessera plan --shifts FILE` splits each pool into one planning
//! pool per *tour* (a shift pattern at one of its start times, worked on its days every week),
//! named `<pool>@<pattern>` (`@HHMM` added when the pattern has several starts). The MILP then
//! picks a headcount per tour, each at least 0, a pool's tours together between 1 and its
//! ceiling; what a tour can do in each window of the week follows from its calendar, so a plan
//! can staff the peak hours and not the trough. Pay is the pool's (per on-shift hour, or per
//! item); the file's `cost` column is not used. The plan's scenario has one pool per tour that
//! got anyone, with the tour's calendar as its `shifts`.
//!
//! Tours are weekly, as a scenario's pools are: an annotator keeps the same shift every week
//! (`tessera staffing` schedules day-by-day instances instead). A break becomes two calendar
//! entries; a shift running past midnight is written with the next day's name for its part
//! after midnight.

use crate::shifts::Shift;
use tessera_engine::spec::Scenario;
use tessera_engine::time::{US_PER_DAY, US_PER_MIN};

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One weekly tour.
#[derive(Clone, Debug, PartialEq)]
pub struct Tour {
    /// `<pattern>` or `<pattern>@HHMM`.
    pub name: String,
    /// Calendar entries (`pools.shifts` syntax).
    pub calendar: Vec<String>,
}

fn clock(us: u64) -> String {
    let m = (us % US_PER_DAY) / US_PER_MIN;
    format!("{:02}:{:02}", m / 60, m % 60)
}

/// The tours of `shifts`: one per pattern and start time.
pub fn tours(shifts: &[Shift]) -> Vec<Tour> {
    let mut out = Vec::new();
    for sh in shifts {
        for &start in &sh.starts {
            let name = if sh.starts.len() > 1 { format!("{}@{}", sh.name, clock(start).replace(':', "")) } else { sh.name.clone() };
            let mut calendar = Vec::new();
            for (a, b) in sh.segments(start) {
                // A segment wholly after midnight belongs to the next day; one that crosses it
                // is written as an end before its start (the calendar's past-midnight form).
                let shift = (a / US_PER_DAY) as usize;
                let days: Vec<&str> = (0..7).filter(|&d| sh.days[d]).map(|d| DAY_NAMES[(d + shift) % 7]).collect();
                if days.is_empty() || b <= a {
                    continue;
                }
                let end = if b - a >= US_PER_DAY { a + US_PER_DAY - US_PER_MIN } else { b };
                calendar.push(format!("{} {}-{}", days.join(","), clock(a), clock(end)));
            }
            if !calendar.is_empty() {
                out.push(Tour { name, calendar });
            }
        }
    }
    out
}

/// The scenario with pools split into tours.
#[derive(Clone, Debug)]
pub struct Split {
    pub scenario: Scenario,
    /// For each pool of `scenario`, the pool of the original it came from.
    pub group: Vec<usize>,
    /// For each pool of `scenario`, its tour (None: not split).
    pub tour: Vec<Option<Tour>>,
}

/// Splits every pool of `s` except `keep` (a review pool, referenced by name) into `tours`.
pub fn split(s: &Scenario, tours: &[Tour], keep: &[String]) -> Split {
    let mut x = s.clone();
    x.pools.clear();
    let (mut group, mut tour) = (Vec::new(), Vec::new());
    for (p, pool) in s.pools.iter().enumerate() {
        let name = s.pool_name(p);
        if keep.contains(&name) || tours.is_empty() {
            x.pools.push(pool.clone());
            group.push(p);
            tour.push(None);
            continue;
        }
        for t in tours {
            let mut q = pool.clone();
            q.name = Some(format!("{name}@{}", t.name));
            q.shifts = t.calendar.clone();
            x.pools.push(q);
            group.push(p);
            tour.push(Some(t.clone()));
        }
    }
    // A workflow stage that names a split pool names its tours instead.
    let is_split = |n: &String| !tours.is_empty() && !keep.contains(n) && (0..s.pools.len()).any(|p| s.pool_name(p) == *n);
    for st in &mut x.streams {
        for stage in &mut st.stages {
            stage.pools = stage.pools.iter().flat_map(|n| if is_split(n) { tours.iter().map(|t| format!("{n}@{}", t.name)).collect() } else { vec![n.clone()] }).collect();
        }
    }
    Split { scenario: x, group, tour }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shifts::read_shifts;
    use tessera_engine::domain::shift::Calendar;

    #[test]
    fn tours_follow_starts_breaks_and_midnight() {
        let csv = "name,start,length,days,break_start,break_length,cost\nearly,06:00 07:30,8h,mon-fri,4h,30min,1\nnight,22:00,8h,\"fri,sat\",,,1\n";
        let t = tours(&read_shifts(csv, "shifts.csv").unwrap());
        assert_eq!(t.len(), 3);
        assert_eq!(t[0], Tour { name: "early@0600".into(), calendar: vec!["mon,tue,wed,thu,fri 06:00-10:00".into(), "mon,tue,wed,thu,fri 10:30-14:00".into()] });
        assert_eq!(t[1].name, "early@0730");
        assert_eq!(t[2].calendar, vec!["fri,sat 22:00-06:00".to_string()]);
        // Every calendar parses, and its weekly hours are the patterns' working hours × days.
        let hours: Vec<f64> = t.iter().map(|x| Calendar::parse(&x.calendar).unwrap().hours_per_week()).collect();
        assert!((hours[0] - 5.0 * 7.5).abs() < 1e-9 && (hours[2] - 16.0).abs() < 1e-9, "{hours:?}");
        // A break that starts after midnight moves to the next day.
        let late = read_shifts("name,start,length,days,break_start,break_length\nlate,20:00,10h,sun,5h,1h\n", "s.csv").unwrap();
        assert_eq!(tours(&late)[0].calendar, vec!["sun 20:00-01:00".to_string(), "mon 02:00-06:00".to_string()]);
    }
}
