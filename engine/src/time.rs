//! Simulated time and durations: integer microseconds, never a float key.
//!
//! [`SimTime`] is an instant on the virtual clock (0 = Monday 00:00 of week one); [`Dur`] is a span.
//! Both are `u64` microseconds so that event ordering is exact and identical on every machine.
//! Durations read and print as a person writes them: `"25.5s"`, `"30min"`, `"24h"`, `"7d"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// Microseconds per unit.
pub const US_PER_SEC: u64 = 1_000_000;
pub const US_PER_MIN: u64 = 60 * US_PER_SEC;
pub const US_PER_HOUR: u64 = 60 * US_PER_MIN;
pub const US_PER_DAY: u64 = 24 * US_PER_HOUR;
pub const US_PER_WEEK: u64 = 7 * US_PER_DAY;

/// An instant of virtual time [µs since the start of the run; 0 = Monday 00:00].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SimTime(pub u64);

/// A span of virtual time [µs].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);
    /// Seconds since the start, as a float (for reporting only).
    pub fn secs(self) -> f64 {
        self.0 as f64 / US_PER_SEC as f64
    }
    /// Saturating `self + d`.
    pub fn plus(self, d: Dur) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
    /// `self - earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: SimTime) -> Dur {
        Dur(self.0.saturating_sub(earlier.0))
    }
    /// Position within the week [µs since Monday 00:00].
    pub fn week_offset(self) -> u64 {
        self.0 % US_PER_WEEK
    }
}

impl Dur {
    pub const ZERO: Dur = Dur(0);
    pub fn from_secs_f64(s: f64) -> Dur {
        if !(s > 0.0) {
            return Dur(0);
        }
        let us = (s * US_PER_SEC as f64).round();
        Dur(if us >= u64::MAX as f64 { u64::MAX } else { us as u64 })
    }
    pub fn secs(self) -> f64 {
        self.0 as f64 / US_PER_SEC as f64
    }
    pub fn hours(self) -> f64 {
        self.0 as f64 / US_PER_HOUR as f64
    }
    pub fn from_hours(h: u64) -> Dur {
        Dur(h * US_PER_HOUR)
    }
}

/// Where time zero sits on the wall clock: [µs] since 1970-01-01T00:00:00Z. The core and the
/// simulation count time as [`SimTime`] offsets from an epoch; traces write epoch + offset, so a
/// simulated and a live trace read the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch(pub i64);

impl Epoch {
    /// The simulation's time zero: Monday 2024-01-01 00:00 UTC (weekly shift calendars start on a
    /// Monday at time zero).
    pub const SIMULATION: Epoch = Epoch(1_704_067_200 * US_PER_SEC as i64);
    /// [µs since the Unix epoch] of an offset (saturating).
    pub fn absolute(self, t: SimTime) -> i64 {
        self.0.saturating_add(i64::try_from(t.0).unwrap_or(i64::MAX))
    }
    /// The offset of a wall-clock instant [µs since the Unix epoch]; None before the epoch.
    pub fn offset(self, unix_us: i64) -> Option<SimTime> {
        unix_us.checked_sub(self.0).and_then(|d| u64::try_from(d).ok()).map(SimTime)
    }
}

/// The longest duration a scenario may state: 100 years [µs]. Every instant of a run is a sum of a
/// few such spans, far below `u64::MAX` µs (584,000 years), so time arithmetic cannot wrap; where
/// it could in principle, it saturates ([`SimTime::plus`]).
pub const MAX_DURATION: Dur = Dur(36_525 * US_PER_DAY);

/// What a duration looks like, for error messages.
pub const DURATION_EXAMPLES: &str = "\"20s\", \"90min\", \"36h\" or \"7d\"";

/// Parses a human duration: a number followed by a unit: `us`, `ms`, `s`, `m` or `min` (a minute,
/// never a month), `h`, `d`, `w`. Examples: `"25.5s"`, `"30min"`, `"1.5h"`, `"7d"`, `"2.5e3s"`.
/// A number without a unit is an error (seconds or days? the file must say), as is a value past
/// [`MAX_DURATION`].
pub fn parse_duration(text: &str) -> Result<Dur, String> {
    let t = text.trim();
    // The number: digits, '_', '.', and an exponent ("1e3", "2.5E-2") when digits follow the 'e'.
    let b = t.as_bytes();
    let mut split = 0;
    while split < b.len() && (b[split].is_ascii_digit() || b[split] == b'.' || b[split] == b'_' || (split == 0 && (b[split] == b'+' || b[split] == b'-'))) {
        split += 1;
    }
    if split < b.len() && (b[split] == b'e' || b[split] == b'E') {
        let mut k = split + 1;
        if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
            k += 1;
        }
        if k < b.len() && b[k].is_ascii_digit() {
            while k < b.len() && b[k].is_ascii_digit() {
                k += 1;
            }
            split = k;
        }
    }
    let (num, unit) = t.split_at(split);
    let num: String = num.chars().filter(|&c| c != '_').collect();
    let value: f64 = num.parse().map_err(|_| format!("expected a duration: a number and a unit such as {DURATION_EXAMPLES}, found {text:?}"))?;
    let scale = match unit.trim() {
        "" => return Err(format!("{text:?} has no unit: write a duration such as {DURATION_EXAMPLES} (units: us, ms, s, min or m, h, d, w)")),
        "s" | "sec" | "secs" | "second" | "seconds" => US_PER_SEC as f64,
        "us" | "µs" => 1.0,
        "ms" => 1_000.0,
        "m" | "min" | "mins" | "minute" | "minutes" => US_PER_MIN as f64,
        "h" | "hr" | "hrs" | "hour" | "hours" => US_PER_HOUR as f64,
        "d" | "day" | "days" => US_PER_DAY as f64,
        "w" | "week" | "weeks" => US_PER_WEEK as f64,
        other => return Err(format!("unknown duration unit {other:?} in {text:?} (use us, ms, s, min or m, h, d or w)")),
    };
    if value < 0.0 {
        return Err(format!("expected a non-negative duration, found {text:?}"));
    }
    let us = value * scale;
    if !us.is_finite() || us > MAX_DURATION.0 as f64 {
        return Err(format!("the number in {text:?} is out of range: durations go up to 100 years (36525d)"));
    }
    Ok(Dur(us.round() as u64))
}

impl fmt::Display for Dur {
    /// Prints the largest unit that divides the value exactly, else seconds with decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        for (unit, n) in [("d", US_PER_DAY), ("h", US_PER_HOUR), ("min", US_PER_MIN), ("s", US_PER_SEC)] {
            if us >= n && us % n == 0 {
                return write!(f, "{}{unit}", us / n);
            }
        }
        if us == 0 {
            return write!(f, "0s");
        }
        write!(f, "{}s", us as f64 / US_PER_SEC as f64)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    /// Accepts a string with a unit (`"25.5s"`); a bare number is an error that shows the units.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn bare<E: serde::de::Error>(v: impl fmt::Display) -> E {
            E::custom(format!("a duration needs a unit: write \"{v}s\" for seconds, or e.g. {DURATION_EXAMPLES}, not the bare number {v}"))
        }
        impl serde::de::Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "a duration such as {DURATION_EXAMPLES}")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map_err(E::custom)
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(bare(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(bare(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Dur, E> {
                Err(bare(v))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses_human_durations() {
        assert_eq!(parse_duration("25.5s").unwrap(), Dur(25_500_000));
        assert_eq!(parse_duration("30min").unwrap(), Dur(30 * US_PER_MIN));
        assert_eq!(parse_duration("24h").unwrap(), Dur(US_PER_DAY));
        assert_eq!(parse_duration("7d").unwrap(), Dur(US_PER_WEEK));
        assert_eq!(parse_duration("1m").unwrap(), Dur(US_PER_MIN), "m is a minute");
        assert_eq!(parse_duration("2.5e3s").unwrap(), Dur(2_500 * US_PER_SEC));
        assert!(parse_duration("12").unwrap_err().contains("no unit"));
        assert!(parse_duration("1e400d").unwrap_err().contains("out of range"), "{}", parse_duration("1e400d").unwrap_err());
        assert!(parse_duration("101y").unwrap_err().contains("unknown duration unit"));
        assert!(parse_duration("36526d").unwrap_err().contains("out of range"));
        assert_eq!(parse_duration("36525d").unwrap(), MAX_DURATION);
        assert!(parse_duration("12 parsecs").unwrap_err().contains("unknown duration unit"));
        assert!(parse_duration("abc").is_err());
        assert!(parse_duration("-3s").is_err());
    }
    #[test]
    fn display_round_trips() {
        for s in ["7d", "24h", "30min", "25.5s", "0s", "90s"] {
            let d = parse_duration(s).unwrap();
            assert_eq!(parse_duration(&d.to_string()).unwrap(), d, "{s}");
        }
        assert_eq!(Dur(US_PER_DAY).to_string(), "1d");
    }
}
