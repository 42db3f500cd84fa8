//! How to read an event trace: the flags `tessera calibrate` and `tessera drift` share, checked
//! once, and the streaming read of a trace file into a tally.

use anyhow::{bail, Context, Result};
use std::io::BufReader;
use std::path::Path;
use tessera_calibrate::{ReadOptions, Tally};

#[derive(clap::Args, Debug)]
pub struct TraceReadArgs {
    /// The replication of a simulated trace to read [default: the first in the file]
    #[arg(long)]
    pub replication: Option<u32>,
    /// The operation's offset from UTC in hours (hour-of-week profiles in its local time; daylight
    /// saving is not followed)
    /// [default: the trace header's utc_offset_s, else 0]
    #[arg(long, allow_negative_numbers = true)]
    pub utc_offset: Option<f64>,
    /// The trace is a rehearsal run this many times faster than real time (`tessera loadgen
    /// --speedup`) against a server on the wall clock: its times are stretched back, from a
    /// Monday 00:00 at its first event. A server run with `--rehearsal-speedup` says so in the
    /// trace's header (clock "rehearsal": its times are already the scenario's)
    #[arg(long)]
    pub speedup: Option<f64>,
    /// Leave the trace's first DURATION out of every figure (a warm-up, e.g. "10min": a
    /// rehearsal's first minutes, or an operation's trace that starts mid-stream); with
    /// --speedup, in simulated time
    #[arg(long, value_parser = tessera_engine::time::parse_duration)]
    pub skip: Option<tessera_engine::time::Dur>,
    /// How annotators form pools: name (the part of a simulated annotator's name before "/n"; a
    /// live trace's people are one pool), skills (a live trace's join events: the person's
    /// declared group, else the task types they declared, e.g. "classification+ocr" written
    /// classification_ocr), or annotator (each person a pool of one: needs enough answers each)
    /// [default: name; with `drift --monitor`, the report's]
    #[arg(long, value_enum)]
    pub group_by: Option<GroupByArg>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum GroupByArg {
    Name,
    Skills,
    Annotator,
}

impl TraceReadArgs {
    /// The flags checked, as the reader's options.
    pub fn options(&self) -> Result<ReadOptions> {
        if self.speedup.is_some_and(|k| !(k > 0.0 && k <= 1e6)) {
            bail!("--speedup {}: expected simulated seconds per second above 0 and at most 10^6", self.speedup.unwrap_or_default());
        }
        if self.utc_offset.is_some_and(|h| !(-14.0..=14.0).contains(&h)) {
            bail!("--utc-offset {}: expected hours between -14 and 14", self.utc_offset.unwrap_or_default());
        }
        let group_by = match self.group_by {
            None | Some(GroupByArg::Name) => tessera_calibrate::GroupBy::Name,
            Some(GroupByArg::Skills) => tessera_calibrate::GroupBy::Skills,
            Some(GroupByArg::Annotator) => tessera_calibrate::GroupBy::Annotator,
        };
        Ok(ReadOptions { replication: self.replication, utc_offset_s: self.utc_offset.map(|h| (h * 3600.0).round() as i64), speedup: self.speedup, skip_us: self.skip.map_or(0, |d| d.0 as i64), group_by, skip_agreement: false })
    }
}

/// Reads the trace at `path` in one streaming pass.
pub fn read_tally(path: &Path, opts: &ReadOptions) -> Result<Tally> {
    let file = std::fs::File::open(path).with_context(|| format!("cannot open the trace {}", path.display()))?;
    Ok(Tally::read(BufReader::with_capacity(1 << 20, file), &path.display().to_string(), opts)?)
}
