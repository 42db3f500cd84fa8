//! Shift patterns: the CSV that `tessera staffing --shifts` reads.
//!
//! ```text
//! name,start,length,days,break_start,break_length,cost
//! early,06:00 06:30 07:00,8h,mon-fri,4h,30min,8
//! late,14:00,8h,all,,,8
//! weekend,09:00,6h,sat-sun,,,7
//! ```
//! * `name`: unique, 1 to 200 characters.
//! * `start`: the clock time a shift starts, `HH:MM` (00:00 to 23:59); several start times,
//!   separated by spaces or `;`, make one pattern with a choice of starts.
//! * `length`: the shift's span, a duration with its unit (`8h`, `450min`), at most `24h`.
//! * `days` (optional, default `all`): the weekdays it may start on: `all` or `daily`, a day
//!   (`mon`), a range (`mon-fri`, or `fri-mon` across the weekend), or a list of those joined by
//!   `,` (quote the field) or spaces: `"mon,wed,fri"`. The plan's offset 0 is a Monday 00:00.
//! * `break_start`, `break_length` (optional, both or neither): an unpaid, uncovered break, as an
//!   offset from the shift's start and a length; it must end before the shift does.
//! * `cost` (optional, default 1): the cost of one agent working one instance of the shift (any
//!   currency, or hours: the objective adds them up).
//!
//! A pattern gives one *instance* per (day of the plan on an allowed weekday, start time): the
//! MILP decides the number of agents on each instance, day by day, as pyworkforce's
//! `MinRequiredResources` does (shift scheduling; weekly tours, where one agent keeps the same
//! shift all week, are not modelled). An instance may run past midnight into the next day; none
//! wraps from the plan's end back to its start. An instance covers an interval of the demand when
//! its working time (the span minus the break) contains the whole interval.

use std::collections::HashSet;

use tessera_engine::time::{parse_duration, US_PER_HOUR, US_PER_MIN};

/// The most shift patterns a file may hold.
pub const MAX_SHIFTS: usize = 1_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Shift {
    pub name: String,
    /// [µs after midnight] each allowed start.
    pub starts: Vec<u64>,
    /// [µs] the span.
    pub length: u64,
    /// Monday = 0 … Sunday = 6.
    pub days: [bool; 7],
    /// [µs] (offset from the start, length).
    pub brk: Option<(u64, u64)>,
    /// Per agent per instance.
    pub cost: f64,
    pub line: usize,
}

impl Shift {
    /// The working segments [µs] of an instance starting at `at`: one, or two around the break.
    pub fn segments(&self, at: u64) -> Vec<(u64, u64)> {
        match self.brk {
            None => vec![(at, at + self.length)],
            Some((b, l)) => vec![(at, at + b), (at + b + l, at + self.length)].into_iter().filter(|s| s.1 > s.0).collect(),
        }
    }
    /// [h] paid time of one instance (the span minus the break).
    pub fn working_hours(&self) -> f64 {
        (self.length - self.brk.map_or(0, |b| b.1)) as f64 / US_PER_HOUR as f64
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(s: &str) -> Option<usize> {
    let s = s.to_ascii_lowercase();
    DAYS.iter().position(|d| s.starts_with(d) && (s.len() == 3 || ["day", "sday", "nesday", "rsday", "urday"].iter().any(|t| s[3..] == **t)))
}

/// Parses a days field.
pub fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("daily") {
        return Ok([true; 7]);
    }
    let mut out = [false; 7];
    for part in t.split([',', ' ', ';']).filter(|p| !p.is_empty()) {
        let bad = || format!("expected days such as all, mon-fri, sat-sun or \"mon,wed,fri\", found {part:?}");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a).ok_or_else(bad)?, day(b).ok_or_else(bad)?);
                let mut d = a;
                loop {
                    out[d] = true;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => out[day(part).ok_or_else(bad)?] = true,
        }
    }
    Ok(out)
}

/// Parses `HH:MM` into [µs after midnight].
pub fn parse_clock(text: &str) -> Result<u64, String> {
    let bad = || format!("expected a clock time HH:MM from 00:00 to 23:59, found {:?}", text.chars().take(20).collect::<String>());
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|c| c.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m): (u64, u64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * US_PER_HOUR + m * US_PER_MIN)
}

/// Reads shift patterns from CSV text; `file` names it in errors.
pub fn read_shifts(text: &str, file: &str) -> Result<Vec<Shift>, String> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| format!("{file}:1: cannot read the header: {e}"))?.clone();
    const COLS: [&str; 7] = ["name", "start", "length", "days", "break_start", "break_length", "cost"];
    let mut col = [None; 7];
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}').to_ascii_lowercase();
        let k = COLS.iter().position(|c| *c == h).ok_or_else(|| format!("{file}:1: unknown column {:?} (a shifts file has the columns {})", h.chars().take(40).collect::<String>(), COLS.join(",")))?;
        if col[k].replace(i).is_some() {
            return Err(format!("{file}:1: column {h} appears twice"));
        }
    }
    for k in 0..3 {
        if col[k].is_none() {
            return Err(format!("{file}:1: missing column {} (name, start and length are required)", COLS[k]));
        }
    }
    let mut out = Vec::new();
    let mut names = HashSet::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| format!("{file}:{}: {}", e.position().map_or(0, |p| p.line()), if matches!(e.kind(), csv::ErrorKind::Utf8 { .. }) { "not valid UTF-8 text".to_string() } else { e.to_string() }))?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        if rec.len() != headers.len() {
            return Err(format!("{file}:{line}: {} fields where the header has {}", rec.len(), headers.len()));
        }
        if out.len() == MAX_SHIFTS {
            return Err(format!("{file}:{line}: more than {MAX_SHIFTS} shift patterns, the limit of a shifts file"));
        }
        let get = |k: usize| col[k].map_or("", |i| &rec[i]);
        let field = |k: usize, e: String| format!("{file}:{line}: field {}: {e}", COLS[k]);
        let name = get(0);
        if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
            return Err(field(0, "a name of 1 to 200 printable characters".into()));
        }
        if !names.insert(name.to_string()) {
            return Err(field(0, format!("shift {name:?} is defined twice")));
        }
        let mut starts = Vec::new();
        for s in get(1).split([' ', ';']).filter(|s| !s.is_empty()) {
            starts.push(parse_clock(s).map_err(|e| field(1, e))?);
        }
        if starts.is_empty() {
            return Err(field(1, "at least one start time HH:MM".into()));
        }
        starts.sort_unstable();
        starts.dedup();
        let length = parse_duration(get(2)).map_err(|e| field(2, e))?.0;
        if length == 0 || length > 24 * US_PER_HOUR {
            return Err(field(2, format!("a shift lasts more than 0 and at most 24h, found {:?}", get(2))));
        }
        let days = parse_days(get(3)).map_err(|e| field(3, e))?;
        let brk = match (get(4), get(5)) {
            ("", "") => None,
            ("", _) => return Err(field(4, "a break needs both break_start and break_length".into())),
            (_, "") => return Err(field(5, "a break needs both break_start and break_length".into())),
            (b, l) => {
                let b = parse_duration(b).map_err(|e| field(4, e))?.0;
                let l = parse_duration(l).map_err(|e| field(5, e))?.0;
                if l == 0 || b == 0 || b.saturating_add(l) >= length {
                    return Err(field(5, "the break must start after the shift does and end before it ends".into()));
                }
                Some((b, l))
            }
        };
        let cost = match get(6) {
            "" => 1.0,
            c => match c.parse::<f64>() {
                Ok(v) if v.is_finite() && (0.0..=1e9).contains(&v) => v,
                _ => return Err(field(6, format!("a cost from 0 to 1e9 per agent and shift, found {:?}", c.chars().take(40).collect::<String>()))),
            },
        };
        out.push(Shift { name: name.to_string(), starts, length, days, brk, cost, line });
    }
    if out.is_empty() {
        return Err(format!("{file}: no shift patterns (expected rows such as early,06:00,8h,mon-fri after the header)"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_patterns() {
        let s = read_shifts("name,start,length,days,break_start,break_length,cost\nearly,06:00 06:30;07:00,8h,mon-fri,4h,30min,8\nnight,22:00,8h,\"fri-mon\",,,10\nx,9:05,1h,,,,\n", "s.csv").unwrap();
        assert_eq!(s[0].starts, vec![6 * US_PER_HOUR, 6 * US_PER_HOUR + 30 * US_PER_MIN, 7 * US_PER_HOUR]);
        assert_eq!(s[0].days, [true, true, true, true, true, false, false]);
        assert_eq!(s[0].segments(0), vec![(0, 4 * US_PER_HOUR), (4 * US_PER_HOUR + 30 * US_PER_MIN, 8 * US_PER_HOUR)]);
        assert_eq!(s[0].working_hours(), 7.5);
        assert_eq!(s[1].days, [true, false, false, false, true, true, true]);
        assert_eq!((s[2].days, s[2].cost, s[2].brk), ([true; 7], 1.0, None));
        assert_eq!(parse_days("Monday wed").unwrap(), [true, false, true, false, false, false, false]);
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases = [
            ("name,start\n", "s.csv:1: missing column length"),
            ("name,start,length,color\n", "unknown column \"color\""),
            ("name,start,length\na,25:00,8h\n", "s.csv:2: field start"),
            ("name,start,length\na,08:00,8\n", "s.csv:2: field length"),
            ("name,start,length\na,08:00,25h\n", "s.csv:2: field length"),
            ("name,start,length,days\na,08:00,8h,funday\n", "s.csv:2: field days"),
            ("name,start,length,break_start\na,08:00,8h,1h\n", "s.csv:2: field break_length"),
            ("name,start,length,break_start,break_length\na,08:00,8h,7h,1h\n", "s.csv:2: field break_length"),
            ("name,start,length,cost\na,08:00,8h,-1\n", "s.csv:2: field cost"),
            ("name,start,length\na,08:00,8h\na,09:00,8h\n", "s.csv:3: field name: shift \"a\" is defined twice"),
            ("name,start,length\n", "no shift patterns"),
        ];
        for (text, needle) in cases {
            let e = read_shifts(text, "s.csv").unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
