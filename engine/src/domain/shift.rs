//! Shift calendars: weekly working hours such as `"mon-fri 08:00-17:00"`.
//!
//! Syntax: `DAYS HH:MM-HH:MM`, where DAYS is `daily`, `weekdays`, `weekends`, a day (`mon`), a range
//! (`mon-fri`) or a comma list (`sat,sun`). An end before the start runs past midnight
//! (`daily 22:00-06:00`). Time 0 of a run is Monday 00:00.

use crate::time::{SimTime, US_PER_DAY, US_PER_HOUR, US_PER_MIN, US_PER_WEEK};

/// A weekly calendar: sorted, merged on-shift intervals [µs within the week].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Calendar {
    /// Empty = always on shift.
    intervals: Vec<(u64, u64)>,
}

const DAYS: [&str; 7] = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];

/// `mon`, `monday`, `Mon` … → 0..7.
fn day_index(s: &str) -> Result<usize, String> {
    let s = s.trim().to_ascii_lowercase();
    DAYS.iter()
        .position(|d| s.len() >= 3 && d.starts_with(s.as_str()))
        .ok_or_else(|| format!("unknown day {s:?} (use mon, tue, wed, thu, fri, sat, sun)"))
}

fn parse_days(s: &str) -> Result<Vec<usize>, String> {
    match s.to_ascii_lowercase().as_str() {
        "daily" | "everyday" | "mon-sun" => return Ok((0..7).collect()),
        "weekdays" => return Ok((0..5).collect()),
        "weekends" => return Ok(vec![5, 6]),
        _ => {}
    }
    let mut out = Vec::new();
    for part in s.split(',') {
        if let Some((a, b)) = part.split_once('-') {
            let (a, b) = (day_index(a)?, day_index(b)?);
            let mut d = a;
            loop {
                out.push(d);
                if d == b {
                    break;
                }
                d = (d + 1) % 7;
            }
        } else {
            out.push(day_index(part)?);
        }
    }
    Ok(out)
}

fn parse_clock(s: &str) -> Result<u64, String> {
    let (h, m) = s.split_once(':').ok_or_else(|| format!("expected a time HH:MM, found {s:?}"))?;
    let h: u64 = h.parse().map_err(|_| format!("expected a time HH:MM, found {s:?}"))?;
    let m: u64 = m.parse().map_err(|_| format!("expected a time HH:MM, found {s:?}"))?;
    if h > 24 || m > 59 || (h == 24 && m > 0) {
        return Err(format!("time {s:?} is not between 00:00 and 24:00"));
    }
    Ok(h * US_PER_HOUR + m * US_PER_MIN)
}

impl Calendar {
    /// Always on shift.
    pub fn always() -> Self {
        Calendar { intervals: Vec::new() }
    }

    /// Parses shift lines; no lines = always on shift.
    pub fn parse(lines: &[String]) -> Result<Calendar, String> {
        let mut raw = Vec::new();
        for line in lines {
            let (days, hours) = line
                .trim()
                .split_once(char::is_whitespace)
                .ok_or_else(|| format!("expected \"DAYS HH:MM-HH:MM\" such as \"mon-fri 08:00-17:00\", found {line:?}"))?;
            let (a, b) = hours
                .trim()
                .split_once('-')
                .ok_or_else(|| format!("expected hours HH:MM-HH:MM, found {:?}", hours.trim()))?;
            let (start, mut end) = (parse_clock(a.trim())?, parse_clock(b.trim())?);
            if end == start {
                return Err(format!("shift {line:?} has no length"));
            }
            if end < start {
                end += US_PER_DAY;
            }
            for d in parse_days(days)? {
                let s = d as u64 * US_PER_DAY + start;
                let e = d as u64 * US_PER_DAY + end;
                if e > US_PER_WEEK {
                    raw.push((s, US_PER_WEEK));
                    raw.push((0, e - US_PER_WEEK));
                } else {
                    raw.push((s, e));
                }
            }
        }
        raw.sort();
        let mut intervals: Vec<(u64, u64)> = Vec::new();
        for (s, e) in raw {
            match intervals.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => intervals.push((s, e)),
            }
        }
        if intervals.len() == 1 && intervals[0] == (0, US_PER_WEEK) {
            intervals.clear();
        }
        Ok(Calendar { intervals })
    }

    pub fn is_always(&self) -> bool {
        self.intervals.is_empty()
    }

    pub fn is_on(&self, t: SimTime) -> bool {
        if self.intervals.is_empty() {
            return true;
        }
        let w = t.week_offset();
        self.intervals.iter().any(|&(s, e)| s <= w && w < e)
    }

    /// The next instant strictly after `t` at which the on/off state changes (None: never).
    pub fn next_change(&self, t: SimTime) -> Option<SimTime> {
        if self.intervals.is_empty() {
            return None;
        }
        let week_start = t.0 - t.week_offset();
        let w = t.week_offset();
        let mut best = u64::MAX;
        for &(s, e) in &self.intervals {
            for edge in [s, e] {
                // Edges at the week boundary that merely continue into the next week are not changes.
                if edge == US_PER_WEEK && self.is_on(SimTime(0)) {
                    continue;
                }
                if edge == 0 && self.is_on(SimTime(US_PER_WEEK - 1)) {
                    continue;
                }
                let abs = if edge > w { week_start + edge } else { week_start + US_PER_WEEK + edge };
                best = best.min(abs);
            }
        }
        (best != u64::MAX).then_some(SimTime(best))
    }

    /// On-shift hours per week.
    pub fn hours_per_week(&self) -> f64 {
        if self.intervals.is_empty() {
            return 168.0;
        }
        self.intervals.iter().map(|(s, e)| (e - s) as f64).sum::<f64>() / US_PER_HOUR as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    fn cal(lines: &[&str]) -> Calendar {
        Calendar::parse(&lines.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }
    #[test]
    fn weekday_office_hours() {
        let c = cal(&["mon-fri 08:00-17:00"]);
        assert_eq!(c.hours_per_week(), 45.0);
        assert!(!c.is_on(SimTime(7 * US_PER_HOUR)));
        assert!(c.is_on(SimTime(8 * US_PER_HOUR)));
        assert!(!c.is_on(SimTime(17 * US_PER_HOUR)));
        assert!(!c.is_on(SimTime(5 * US_PER_DAY + 9 * US_PER_HOUR)));
        assert_eq!(c.next_change(SimTime(0)), Some(SimTime(8 * US_PER_HOUR)));
        assert_eq!(c.next_change(SimTime(8 * US_PER_HOUR)), Some(SimTime(17 * US_PER_HOUR)));
        // Friday 17:00 → Monday 08:00 of the next week.
        let fri_end = SimTime(4 * US_PER_DAY + 17 * US_PER_HOUR);
        assert_eq!(c.next_change(fri_end), Some(SimTime(US_PER_WEEK + 8 * US_PER_HOUR)));
    }
    #[test]
    fn overnight_and_lists() {
        let c = cal(&["daily 22:00-06:00"]);
        assert_eq!(c.hours_per_week(), 56.0);
        assert!(c.is_on(SimTime(US_PER_HOUR))); // Monday 01:00 (Sunday night shift)
        assert!(c.is_on(SimTime(23 * US_PER_HOUR)));
        assert!(!c.is_on(SimTime(12 * US_PER_HOUR)));
        let w = cal(&["sat,sun 10:00-14:00"]);
        assert_eq!(w.hours_per_week(), 8.0);
        assert!(cal(&["daily 00:00-24:00"]).is_always());
    }
    #[test]
    fn rejects_nonsense() {
        for bad in ["mon 8-17", "funday 08:00-17:00", "mon-fri", "mon 25:00-26:00", "mon 08:00-08:00"] {
            assert!(Calendar::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
