//! Demand curves: the CSV that `tessera staffing --demand` reads (and a forecast will write).
//!
//! ```text
//! stream,start,count          or          stream,start,required
//! chat,0h,120                             chat,0h,14
//! chat,30min,95                           chat,30min,12
//! ```
//! * `stream`: a name (1 to 200 characters). Each stream is staffed by its own pool of agents.
//! * `start`: the interval's start as an offset from the start of the plan, a duration with its
//!   unit (`0h`, `30min`, `32h`, `1.5d`: one number, one unit). Offset 0 is a Monday 00:00, the
//!   simulation's time zero, so shift days (`mon-fri`) line up.
//! * `count`: tasks arriving in the interval (≥ 0; fractions allowed: a forecast's mean), or
//!   `required`: agents needed in the interval (a whole number ≥ 0) when they come from elsewhere.
//!
//! Intervals are inferred per stream from consecutive starts (rows may come in any order): an
//! interval ends where the stream's next one starts, and the last one is as long as the one
//! before it, so a stream needs two rows or more. Lengths may differ (a gap is one long
//! interval). Columns are found by header name; a column that is none of these is an error. Every
//! error names the file, the line and the field. No input panics (`no_panic_on_garbage` mutates
//! rows at random; the tessera-fuzz targets do not cover this reader yet).

use std::collections::HashMap;

use tessera_engine::time::{parse_duration, US_PER_DAY};

/// The most data rows a demand file may hold.
pub const MAX_ROWS: usize = 200_000;
/// The most streams a demand file may name.
pub const MAX_STREAMS: usize = 1_000;
/// The longest stream name [characters].
pub const MAX_NAME: usize = 200;
/// The latest start: a plan of at most a year [days].
pub const MAX_DAYS: u64 = 366;
/// The largest `required` value [agents].
pub const MAX_REQUIRED: f64 = 100_000.0;

/// What the third column means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quantity {
    /// Arrivals in the interval: staffing turns them into agents.
    Count,
    /// Agents required in the interval, as given.
    Required,
}

/// One interval of one stream.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// [µs] from the plan's start.
    pub start: u64,
    /// [µs] from the plan's start (exclusive).
    pub end: u64,
    /// Arrivals or agents, per [`Quantity`].
    pub value: f64,
    /// The file's line (1-based).
    pub line: usize,
}

impl Interval {
    /// [h]
    pub fn hours(&self) -> f64 {
        (self.end - self.start) as f64 / 3.6e9
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct StreamDemand {
    pub name: String,
    /// In start order.
    pub intervals: Vec<Interval>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Demand {
    pub quantity: Quantity,
    /// In order of first appearance.
    pub streams: Vec<StreamDemand>,
}

impl Demand {
    /// [µs] the end of the last interval.
    pub fn horizon(&self) -> u64 {
        self.streams.iter().flat_map(|s| s.intervals.last()).map(|i| i.end).max().unwrap_or(0)
    }
}

/// Clips a value for an error message.
fn shown(s: &str) -> String {
    let c: String = s.chars().take(40).collect();
    if c.len() < s.len() { format!("{c:?}…") } else { format!("{c:?}") }
}

/// Reads a demand CSV from its text; `file` names it in errors.
pub fn read_demand(text: &str, file: &str) -> Result<Demand, String> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = rdr.headers().map_err(|e| format!("{file}:1: cannot read the header: {e}"))?.clone();
    let mut col = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        let h = h.trim_start_matches('\u{feff}').to_ascii_lowercase();
        if !matches!(h.as_str(), "stream" | "start" | "count" | "required") {
            return Err(format!("{file}:1: unknown column {} (a demand file has the columns stream,start,count or stream,start,required)", shown(&h)));
        }
        if col.insert(h.clone(), i).is_some() {
            return Err(format!("{file}:1: column {h} appears twice"));
        }
    }
    let quantity = match (col.get("count"), col.get("required")) {
        (Some(_), None) => Quantity::Count,
        (None, Some(_)) => Quantity::Required,
        (Some(_), Some(_)) => return Err(format!("{file}:1: give either a count column (arrivals) or a required column (agents), not both")),
        (None, None) => return Err(format!("{file}:1: missing column count (arrivals per interval) or required (agents per interval); the header must be stream,start,count")),
    };
    let (ci, si) = match (col.get("stream"), col.get("start")) {
        (Some(&a), Some(&b)) => (a, b),
        _ => return Err(format!("{file}:1: missing column {}: the header must be stream,start,count", if col.contains_key("stream") { "start" } else { "stream" })),
    };
    let vi = col[if quantity == Quantity::Count { "count" } else { "required" }];
    let vname = if quantity == Quantity::Count { "count" } else { "required" };
    let mut order: Vec<String> = Vec::new();
    let mut rows: HashMap<String, Vec<(u64, f64, usize)>> = HashMap::new();
    let mut n = 0usize;
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line());
            format!("{file}:{line}: {}", match e.kind() { csv::ErrorKind::Utf8 { .. } => "not valid UTF-8 text".to_string(), _ => e.to_string() })
        })?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if rec.iter().all(|f| f.is_empty()) {
            continue;
        }
        n += 1;
        if n > MAX_ROWS {
            return Err(format!("{file}:{line}: more than {MAX_ROWS} rows, the limit of a demand file"));
        }
        if rec.len() != headers.len() {
            return Err(format!("{file}:{line}: {} fields where the header has {}", rec.len(), headers.len()));
        }
        let name = &rec[ci];
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
            return Err(format!("{file}:{line}: field stream: a name of 1 to {MAX_NAME} printable characters, found {}", shown(name)));
        }
        let start = parse_duration(&rec[si]).map_err(|e| format!("{file}:{line}: field start: {e} (the start is an offset from the plan's start, e.g. 0h, 30min, 32h)"))?;
        if start.0 >= MAX_DAYS * US_PER_DAY {
            return Err(format!("{file}:{line}: field start: {} is past the limit of a plan, {MAX_DAYS} days", shown(&rec[si])));
        }
        let raw = &rec[vi];
        let v: f64 = raw.parse().map_err(|_| format!("{file}:{line}: field {vname}: expected a number, found {}", shown(raw)))?;
        if !v.is_finite() || v < 0.0 {
            return Err(format!("{file}:{line}: field {vname}: expected a finite number ≥ 0, found {}", shown(raw)));
        }
        if quantity == Quantity::Required && (v.fract() != 0.0 || v > MAX_REQUIRED) {
            return Err(format!("{file}:{line}: field required: a whole number of agents from 0 to {MAX_REQUIRED}, found {}", shown(raw)));
        }
        if !rows.contains_key(name) {
            if order.len() == MAX_STREAMS {
                return Err(format!("{file}:{line}: field stream: more than {MAX_STREAMS} streams, the limit of a demand file"));
            }
            order.push(name.to_string());
        }
        rows.entry(name.to_string()).or_default().push((start.0, v, line));
    }
    if order.is_empty() {
        return Err(format!("{file}: no data rows (expected stream,start,count rows after the header)"));
    }
    let mut streams = Vec::with_capacity(order.len());
    for name in order {
        let mut r = rows.remove(&name).unwrap_or_default();
        r.sort_by_key(|x| x.0);
        for w in r.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(format!("{file}:{}: field start: stream {} already has an interval starting there (line {})", w[1].2, shown(&name), w[0].2));
            }
        }
        if r.len() < 2 {
            return Err(format!(
                "{file}:{}: stream {} has one row: its interval length is inferred from the next start, so give two rows or more",
                r.first().map_or(0, |x| x.2),
                shown(&name)
            ));
        }
        let mut intervals: Vec<Interval> = r.windows(2).map(|w| Interval { start: w[0].0, end: w[1].0, value: w[0].1, line: w[0].2 }).collect();
        let (last, before) = (r[r.len() - 1], r[r.len() - 2]);
        intervals.push(Interval { start: last.0, end: last.0 + (last.0 - before.0), value: last.1, line: last.2 });
        streams.push(StreamDemand { name, intervals });
    }
    Ok(Demand { quantity, streams })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_infers_intervals() {
        let d = read_demand("stream,start,count\nb,1h,5\na,0h,10\na,30min,20\nb,0h,3\na,2h,1\n", "d.csv").unwrap();
        assert_eq!(d.quantity, Quantity::Count);
        assert_eq!(d.streams.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["b", "a"]);
        let a = &d.streams[1].intervals;
        let h = 3_600_000_000u64;
        assert_eq!(a.iter().map(|i| (i.start, i.end, i.value)).collect::<Vec<_>>(), [(0, h / 2, 10.0), (h / 2, 2 * h, 20.0), (2 * h, 7 * h / 2, 1.0)]);
        assert_eq!(d.horizon(), 7 * h / 2);
        let r = read_demand("start,required,stream\n0h,3,x\n1h,4,x\n", "r.csv").unwrap();
        assert_eq!((r.quantity, r.streams[0].intervals[1].value), (Quantity::Required, 4.0));
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let cases = [
            ("stream,start\n", "d.csv:1: missing column count"),
            ("stream,start,count,x\n", "unknown column \"x\""),
            ("stream,start,count\na,0,1\na,1h,1\n", "d.csv:2: field start"),
            ("stream,start,count\na,0h,1\na,1h,-1\n", "d.csv:3: field count"),
            ("stream,start,count\na,0h,1\na,1h,NaN\n", "d.csv:3: field count"),
            ("stream,start,count\na,0h,1\na,0h,2\n", "d.csv:3: field start: stream \"a\" already has an interval starting there (line 2)"),
            ("stream,start,count\na,0h,1\n", "d.csv:2: stream \"a\" has one row"),
            ("stream,start,count\na,0h\n", "d.csv:2: 2 fields"),
            ("stream,start,required\na,0h,1.5\na,1h,1\n", "d.csv:2: field required"),
            ("stream,start,count\n,0h,1\n", "d.csv:2: field stream"),
            ("stream,start,count\na,400d,1\n", "d.csv:2: field start"),
            ("stream,start,count\n", "no data rows"),
            ("stream,start,count\na,\"0h,1\n", "d.csv"),
        ];
        for (text, needle) in cases {
            let e = read_demand(text, "d.csv").unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    /// Random bytes and mangled rows never panic.
    #[test]
    fn no_panic_on_garbage() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let base = b"stream,start,count\na,0h,1\na,30min,2\nb,1e3s,3.5\nb,1h,0\n".to_vec();
        let tokens: [&[u8]; 10] = [b",", b"\n", b"\"", b"-", b"1e999", b"\xff", b"NaN", b"99999999999999999999h", b"\r", b"0"];
        for _ in 0..20_000 {
            let mut b = base.clone();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..=b.len());
                match rng.random_range(0..3) {
                    0 if !b.is_empty() => { b.remove(at.min(b.len() - 1)); }
                    1 => { let t = tokens[rng.random_range(0..tokens.len())]; b.splice(at..at, t.iter().copied()); }
                    _ => { b.insert(at, rng.random()); }
                }
            }
            let text = String::from_utf8_lossy(&b);
            let _ = read_demand(&text, "f.csv");
        }
    }
}
