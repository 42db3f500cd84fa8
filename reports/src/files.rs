//! The output files of `tessera simulate`: summary.json, tasks.csv (streamed per replication in
//! task order), series.csv and the streamed trace (events.jsonl, schema `tessera.trace/2`). Same
//! results in, same bytes out, at any thread count.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::collections::{BTreeMap, VecDeque};
use tessera_engine::metrics::series::BinRow;
use tessera_engine::run::record::{RecordSink, TaskRecord, TraceSink};
use crate::background::BackgroundFile;

/// Writes summary.json (pretty, keys sorted, trailing newline).
pub fn write_summary_json(path: &Path, summary: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// The columns of tasks.csv.
pub const TASKS_CSV_HEADER: &str = "replication,task,stream,task_type,priority,arrival_s,first_start_s,final_s,wait_s,time_in_system_s,labels,walkaways,reworks,reopened,reopened_gap_s,final_label,confidence,true_label,correct,deadline_s,deadline_missed,item_cost_usd,counted,left_s\n";

/// Appends `s` as one CSV field (quoted when it must be).
fn field(out: &mut Vec<u8>, s: &str) {
    if s.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(s.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(s.as_bytes());
    }
}

/// Appends µs as exact seconds: "9.070232", "12.5", "3" (the shortest decimal, as `f64`'s
/// Display would print µs / 10⁶, without its cost). Rows write it through [`Row::secs`].
#[cfg(test)]
pub fn secs(out: &mut Vec<u8>, us: u64) {
    let mut r = Row::new(out);
    r.secs(us);
    r.flush();
}

/// "00" to "99": two digits at a time.
const PAIRS: [u8; 200] = {
    let mut a = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        a[2 * i] = b'0' + (i / 10) as u8;
        a[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    a
};

/// 10⁰ to 10¹⁹.
const POW10: [u64; 20] = {
    let mut a = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        a[i] = a[i - 1] * 10;
        i += 1;
    }
    a
};

/// A row under construction: numbers and short texts go to a stack buffer, which reaches `out`
/// in one copy (flushed first before anything long or formatted by `fmt`). Between flushes the
/// buffer holds at most two short texts and the row's numbers (under 400 bytes), so writes need
/// no room check.
struct Row<'a> {
    out: &'a mut Vec<u8>,
    buf: [u8; Row::CAP],
    n: usize,
}

impl<'a> Row<'a> {
    const CAP: usize = 512;
    /// Texts longer than this go straight to `out`.
    const SHORT: usize = 48;

    fn new(out: &'a mut Vec<u8>) -> Row<'a> {
        Row { out, buf: [0; Row::CAP], n: 0 }
    }
    #[inline]
    fn flush(&mut self) {
        self.out.extend_from_slice(&self.buf[..self.n]);
        self.n = 0;
    }
    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.buf[self.n] = b;
        self.n += 1;
    }
    #[inline]
    fn bytes(&mut self, s: &[u8]) {
        if s.len() > Row::SHORT {
            self.flush();
            self.out.extend_from_slice(s);
            return;
        }
        self.buf[self.n..self.n + s.len()].copy_from_slice(s);
        self.n += s.len();
    }
    #[inline(always)]
    fn pair(&mut self, at: usize, d: usize) {
        self.buf[at..at + 2].copy_from_slice(&PAIRS[2 * d..2 * d + 2]);
    }
    /// `v` in decimal.
    #[inline(always)]
    fn uint(&mut self, v: u64) {
        if v < 10 {
            return self.byte(b'0' + v as u8);
        }
        if v < 100 {
            self.pair(self.n, v as usize);
            self.n += 2;
            return;
        }
        self.uint_long(v);
    }
    fn uint_long(&mut self, v: u64) {
        // Decimal digits of v ≥ 1: from its bit length, then one comparison.
        let t = ((64 - v.leading_zeros()) * 1233 >> 12) as usize;
        let len = t + 1 - (v < POW10[t]) as usize;
        let (mut v, mut i) = (v, self.n + len);
        while v >= 100 {
            i -= 2;
            self.pair(i, (v % 100) as usize);
            v /= 100;
        }
        if v >= 10 {
            self.pair(i - 2, v as usize);
        } else {
            self.buf[i - 1] = b'0' + v as u8;
        }
        self.n += len;
    }
    /// µs as exact seconds (see [`secs`]).
    #[inline]
    fn secs(&mut self, us: u64) {
        self.uint(us / 1_000_000);
        let frac = (us % 1_000_000) as usize;
        if frac != 0 {
            let at = self.n + 1;
            self.buf[self.n] = b'.';
            self.pair(at, frac / 10_000);
            self.pair(at + 2, frac / 100 % 100);
            self.pair(at + 4, frac % 100);
            let mut len = 6;
            while self.buf[at + len - 1] == b'0' {
                len -= 1;
            }
            self.n = at + len;
        }
    }
    /// One CSV field (quoted when it must be).
    #[inline]
    fn field(&mut self, s: &str) {
        if s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            self.flush();
            field(self.out, s);
        } else {
            self.bytes(s.as_bytes());
        }
    }
    /// `x` as `fmt` displays it.
    fn display(&mut self, x: impl std::fmt::Display) {
        use std::io::Write as _;
        self.flush();
        let _ = write!(self.out, "{x}");
    }
}

/// Appends one tasks.csv row (with its newline) for replication `rep`.
pub fn task_row(out: &mut Vec<u8>, rep: u32, t: &TaskRecord) {
    task_row_named(out, rep, t, &t.stream, &t.task_type);
}

/// [`task_row`] with the stream and task type names given (a thread that must not read the
/// record's shared names: `tasks_thread`).
pub(crate) fn task_row_named(out: &mut Vec<u8>, rep: u32, t: &TaskRecord, stream: &str, task_type: &str) {
    let mut r = Row::new(out);
    let time = |r: &mut Row, x: Option<u64>| {
        if let Some(us) = x {
            r.secs(us);
        }
        r.byte(b',');
    };
    r.uint(rep as u64);
    r.byte(b',');
    r.uint(t.task);
    r.byte(b',');
    r.field(stream);
    r.byte(b',');
    r.field(task_type);
    r.byte(b',');
    r.uint(t.priority as u64);
    r.byte(b',');
    time(&mut r, Some(t.arrival.0));
    time(&mut r, t.first_start.map(|x| x.0));
    time(&mut r, t.final_at.map(|x| x.0));
    time(&mut r, t.wait.map(|x| x.0));
    time(&mut r, t.time_in_system.map(|x| x.0));
    for n in [t.labels, t.walkaways, t.reworks, t.reopened] {
        r.uint(n as u64);
        r.byte(b',');
    }
    time(&mut r, Some(t.reopened_gap.0));
    if let Some(l) = t.final_label {
        r.uint(l as u64);
    }
    r.byte(b',');
    match t.confidence {
        Some(c) if c.to_bits() == 1f32.to_bits() => r.byte(b'1'), // what Display prints for 1.0
        Some(c) => r.display(c),
        None => {}
    }
    r.byte(b',');
    r.uint(t.true_label as u64);
    r.byte(b',');
    if let Some(c) = t.correct {
        r.bytes(if c { b"true" } else { b"false" });
    }
    r.byte(b',');
    time(&mut r, t.deadline.map(|x| x.0));
    r.bytes(if t.deadline_missed { b"true," } else { b"false," });
    if t.item_cost_usd == 0.0 {
        r.byte(b'0');
    } else {
        r.display(t.item_cost_usd);
    }
    r.bytes(if t.counted { b",true," } else { b",false," });
    if let Some(l) = t.left_at {
        r.secs(l.0);
    }
    r.byte(b'\n');
    r.flush();
}

/// Rows held in memory at most before a sorted run of them goes to disk.
const SPILL_ROWS: usize = 1 << 17;

/// A replication's tasks.csv rows, streamed to its own part file in task order as tasks settle.
/// A row that settles before an earlier task waits in a buffer until that task is written;
/// past `SPILL_ROWS` waiting rows (a task starved for long), the buffer goes to disk as a sorted
/// run and the runs are merged at the end, so memory stays bounded whatever the order.
pub struct TasksPart {
    path: PathBuf,
    rep: u32,
    /// Written on its own thread: the simulation never waits on the disk.
    w: BackgroundFile,
    next: u64,
    /// Rows of tasks `next + i` that came early, at index i (an empty buffer: not yet come);
    /// buffers are reused, so the common small disorder allocates nothing.
    early: VecDeque<Vec<u8>>,
    early_rows: usize,
    spare: Vec<Vec<u8>>,
    /// Rows further ahead than `EARLY`, and every row once a run has been spilled.
    waiting: BTreeMap<u64, Vec<u8>>,
    runs: Vec<PathBuf>,
    spill_rows: usize,
    early_limit: u64,
    row: Vec<u8>,
}

/// How far ahead of the next task to write a row may come and still wait in the reused window.
const EARLY: u64 = 1 << 12;

impl TasksPart {
    pub fn create(tasks_csv: &Path, r: u32) -> Result<TasksPart, String> {
        let path = part_path(tasks_csv, r);
        let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let mut w = BackgroundFile::new(file, "tasks.csv").map_err(|e| format!("cannot start writing {}: {e}", path.display()))?;
        if r == 0 {
            // The first part becomes tasks.csv itself (see `join_parts`).
            w.write_all(TASKS_CSV_HEADER.as_bytes()).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        Ok(TasksPart { path, rep: r, w, next: 0, waiting: BTreeMap::new(), runs: Vec::new(), spill_rows: SPILL_ROWS, early_limit: EARLY, row: Vec::with_capacity(256), early: VecDeque::new(), early_rows: 0, spare: Vec::new() })
    }

    /// Spills after `rows` waiting rows, and keeps rows at most `early` tasks ahead in the reused
    /// window, instead of the defaults (tests).
    pub fn limits(mut self, rows: usize, early: u64) -> TasksPart {
        self.spill_rows = rows.max(1);
        self.early_limit = early.max(1);
        self
    }

    fn err(&self, e: std::io::Error) -> String {
        format!("cannot write {}: {e}", self.path.display())
    }

    /// Moves the rows of the early window into `waiting`.
    fn early_to_waiting(&mut self) {
        for (i, buf) in std::mem::take(&mut self.early).into_iter().enumerate() {
            if !buf.is_empty() {
                self.waiting.insert(self.next + i as u64, buf);
            }
        }
        self.early_rows = 0;
    }

    /// Writes every row that is next in task order.
    fn drain(&mut self) -> Result<(), String> {
        loop {
            if self.early.front().is_some_and(|b| !b.is_empty()) {
                let mut buf = self.early.pop_front().expect("a front");
                self.w.write_all(&buf).map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
                buf.clear();
                self.spare.push(buf);
                self.early_rows -= 1;
            } else if let Some(row) = (!self.waiting.is_empty()).then(|| self.waiting.remove(&self.next)).flatten() {
                self.w.write_all(&row).map_err(|e| self.err(e))?;
                if let Some(slot) = self.early.pop_front() {
                    self.spare.push(slot);
                }
            } else {
                return Ok(());
            }
            self.next += 1;
        }
    }

    fn spill(&mut self) -> Result<(), String> {
        self.early_to_waiting();
        let run = run_path(&self.path, self.runs.len());
        let file = File::create(&run).map_err(|e| format!("cannot create {}: {e}", run.display()))?;
        let mut w = BufWriter::new(file);
        for row in std::mem::take(&mut self.waiting).into_values() {
            w.write_all(&row).map_err(|e| format!("cannot write {}: {e}", run.display()))?;
        }
        w.flush().map_err(|e| format!("cannot write {}: {e}", run.display()))?;
        self.runs.push(run);
        Ok(())
    }

    /// Merges the sorted runs and the rows still waiting into the part file.
    fn merge(&mut self) -> Result<(), String> {
        use std::io::BufRead;
        let mut readers = Vec::new();
        for run in &self.runs {
            let f = File::open(run).map_err(|e| format!("cannot read {}: {e}", run.display()))?;
            readers.push(std::io::BufReader::new(f).split(b'\n'));
        }
        // The task id is the second field of a row.
        let id = |row: &[u8]| -> u64 { row.split(|&b| b == b',').nth(1).and_then(|f| std::str::from_utf8(f).ok()?.parse().ok()).unwrap_or(u64::MAX) };
        let mut heads: Vec<Option<(u64, Vec<u8>)>> = Vec::new();
        for r in readers.iter_mut() {
            heads.push(r.next().transpose().map_err(|e| e.to_string())?.map(|row| (id(&row), row)));
        }
        let mut memory = std::mem::take(&mut self.waiting).into_iter().peekable();
        loop {
            let disk = heads.iter().enumerate().filter_map(|(i, h)| h.as_ref().map(|(t, _)| (*t, i))).min();
            let mem = memory.peek().map(|(t, _)| *t);
            match (disk, mem) {
                (Some((t, i)), m) if m.is_none_or(|m| t < m) => {
                    let (_, mut row) = heads[i].take().expect("a head");
                    row.push(b'\n');
                    self.w.write_all(&row).map_err(|e| self.err(e))?;
                    heads[i] = readers[i].next().transpose().map_err(|e| e.to_string())?.map(|row| (id(&row), row));
                }
                (_, Some(_)) => {
                    let (_, row) = memory.next().expect("peeked");
                    self.w.write_all(&row).map_err(|e| self.err(e))?;
                }
                (None, None) => break,
                (Some(_), None) => unreachable!("covered by the first arm"),
            }
        }
        for run in std::mem::take(&mut self.runs) {
            std::fs::remove_file(&run).map_err(|e| format!("cannot remove {}: {e}", run.display()))?;
        }
        Ok(())
    }
}

impl RecordSink for TasksPart {
    fn record(&mut self, r: &TaskRecord) -> Result<(), String> {
        self.record_named(r, &r.stream, &r.task_type)
    }
    fn finish(&mut self) -> Result<(), String> {
        self.finish_part()
    }
}

impl TasksPart {
    /// [`RecordSink::record`] with the record's stream and task type names given.
    pub(crate) fn record_named(&mut self, r: &TaskRecord, stream: &str, task_type: &str) -> Result<(), String> {
        self.row.clear();
        task_row_named(&mut self.row, self.rep, r, stream, task_type);
        if self.runs.is_empty() {
            let ahead = r.task.wrapping_sub(self.next);
            if ahead == 0 {
                self.w.write_all(&self.row).map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
                if let Some(slot) = self.early.pop_front() {
                    self.spare.push(slot);
                }
                self.next += 1;
                return self.drain();
            }
            if ahead < self.early_limit {
                let i = ahead as usize;
                while self.early.len() <= i {
                    let slot = self.spare.pop().unwrap_or_default();
                    self.early.push_back(slot);
                }
                std::mem::swap(&mut self.early[i], &mut self.row);
                self.early_rows += 1;
                return if self.early_rows + self.waiting.len() >= self.spill_rows { self.spill() } else { Ok(()) };
            }
        }
        self.waiting.insert(r.task, self.row.clone());
        if self.early_rows + self.waiting.len() >= self.spill_rows {
            self.spill()?;
        }
        Ok(())
    }
    pub(crate) fn finish_part(&mut self) -> Result<(), String> {
        self.early_to_waiting();
        if self.runs.is_empty() {
            for row in std::mem::take(&mut self.waiting).into_values() {
                self.w.write_all(&row).map_err(|e| self.err(e))?;
            }
        } else {
            self.merge()?;
        }
        self.w.close().map_err(|e| self.err(e))
    }
}

/// A CSV file written row by row, its errors naming the file.
struct CsvFile {
    path: PathBuf,
    w: BufWriter<File>,
}

impl CsvFile {
    fn create(path: &Path, header: &str) -> Result<CsvFile> {
        let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut f = CsvFile { path: path.to_path_buf(), w: BufWriter::new(file) };
        f.line(format_args!("{header}"))?;
        Ok(f)
    }
    fn line(&mut self, row: std::fmt::Arguments) -> Result<()> {
        writeln!(self.w, "{row}").with_context(|| format!("cannot write {}", self.path.display()))
    }
    fn finish(mut self) -> Result<()> {
        self.w.flush().with_context(|| format!("cannot write {}", self.path.display()))
    }
}

/// series.csv, written replication by replication as they finish (in replication order).
pub struct SeriesWriter(CsvFile);

impl SeriesWriter {
    pub fn create(path: &Path) -> Result<SeriesWriter> {
        CsvFile::create(path, "replication,start_h,end_h,arrivals,finals,queue_mean,tasks_in_system_mean").map(SeriesWriter)
    }
    /// Appends replication `rep`'s bins.
    pub fn write(&mut self, rep: u32, rows: &[BinRow]) -> Result<()> {
        for b in rows {
            self.0.line(format_args!("{rep},{},{},{},{},{},{}", b.start.0 as f64 / 3.6e9, b.end.0 as f64 / 3.6e9, b.arrivals, b.finals, b.queue_mean, b.wip_mean))?;
        }
        Ok(())
    }
    pub fn finish(self) -> Result<()> {
        self.0.finish()
    }
}

/// bias.csv: every annotator tested for bias (`engine::run::bias`), replication by replication in
/// replication order.
pub struct BiasWriter(CsvFile);

impl BiasWriter {
    pub fn create(path: &Path) -> Result<BiasWriter> {
        CsvFile::create(path, "replication,annotator,pool,kind,stream,toward,answers,strength,p,q,flagged,planted").map(BiasWriter)
    }
    /// Appends replication `rep`'s rows.
    pub fn write(&mut self, rep: u32, rows: &[tessera_engine::run::bias::BiasRow]) -> Result<()> {
        let text = |s: &str| {
            let mut b = Vec::new();
            field(&mut b, s);
            String::from_utf8(b).unwrap_or_default()
        };
        for r in rows {
            let (annotator, pool, stream) = (text(&r.annotator), text(&r.pool), text(&r.stream));
            self.0.line(format_args!(
                "{rep},{annotator},{pool},{},{stream},{},{},{:.6},{:.6e},{:.6e},{},{}",
                r.kind, r.toward, r.answers, r.strength, r.p, r.q, r.flagged, r.planted
            ))?;
        }
        Ok(())
    }
    pub fn finish(self) -> Result<()> {
        self.0.finish()
    }
}

/// series.csv: the binned time series of every replication.
pub fn write_series_csv<'a>(path: &Path, runs: impl Iterator<Item = (u32, &'a [BinRow])>) -> Result<()> {
    let mut w = SeriesWriter::create(path)?;
    for (rep, rows) in runs {
        w.write(rep, rows)?;
    }
    w.finish()
}

/// A replication's trace, streamed to its own part file as the run goes (replications run in
/// parallel); [`join_parts`] concatenates them in replication order.
pub struct TracePart {
    path: PathBuf,
    /// Written on its own thread, as tasks.csv.
    w: BackgroundFile,
}

/// Where replication `r`'s part of a file written per replication (events.jsonl, tasks.csv) goes.
pub fn part_path(file: &Path, r: u32) -> PathBuf {
    let mut name = file.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".part{r}"));
    file.with_file_name(name)
}

impl TracePart {
    pub fn create(events: &Path, r: u32) -> Result<TracePart, String> {
        let path = part_path(events, r);
        let file = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let w = BackgroundFile::new(file, "events.jsonl").map_err(|e| format!("cannot start writing {}: {e}", path.display()))?;
        Ok(TracePart { w, path })
    }
}

impl TraceSink for TracePart {
    fn write(&mut self, line: &[u8]) -> Result<(), String> {
        self.w.write_all(line).map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
    fn finish(&mut self) -> Result<(), String> {
        self.w.close().map_err(|e| format!("cannot write {}: {e}", self.path.display()))
    }
}

/// Concatenates the part files of `reps` replications into `file` (the first part, which opens
/// with whatever header the file has, becomes the file; the others are appended in the kernel)
/// and removes the parts.
pub fn join_parts(file: &Path, reps: u32) -> Result<()> {
    let first = part_path(file, 0);
    std::fs::rename(&first, file).with_context(|| format!("cannot rename {} to {}", first.display(), file.display()))?;
    if reps > 1 {
        let mut out = std::fs::OpenOptions::new().append(true).open(file).with_context(|| format!("cannot open {}", file.display()))?;
        for r in 1..reps {
            let part = part_path(file, r);
            let mut f = File::open(&part).with_context(|| format!("cannot read {}", part.display()))?;
            std::io::copy(&mut f, &mut out).with_context(|| format!("cannot write {}", file.display()))?;
            std::fs::remove_file(&part).with_context(|| format!("cannot remove {}", part.display()))?;
        }
        out.flush().with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(())
}

/// Where sorted run `k` of a tasks.csv part goes when its buffer spills.
fn run_path(part: &Path, k: usize) -> PathBuf {
    let mut name = part.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".run{k}"));
    part.with_file_name(name)
}

/// Removes whatever part files (and sorted runs) replications left behind after a failure.
pub fn remove_parts(file: &Path, reps: u32) {
    for r in 0..reps {
        let part = part_path(file, r);
        let _ = std::fs::remove_file(&part);
        for k in 0.. {
            if std::fs::remove_file(run_path(&part, k)).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::seq::SliceRandom;
    use rand::SeedableRng;

    fn record(task: u64) -> TaskRecord {
        TaskRecord {
            task,
            stream: std::sync::Arc::from("a,b"),
            task_type: std::sync::Arc::from("t"),
            priority: 0,
            arrival: tessera_engine::time::SimTime(task * 1_000_000),
            first_start: None,
            final_at: Some(tessera_engine::time::SimTime(task * 1_000_000 + 1_500_000)),
            wait: None,
            time_in_system: Some(tessera_engine::time::Dur(1_500_000)),
            labels: 1,
            walkaways: 0,
            reworks: 0,
            reopened: 0,
            reopened_gap: tessera_engine::time::Dur(0),
            final_label: Some(1),
            confidence: Some(0.5),
            true_label: 1,
            correct: Some(true),
            deadline: None,
            deadline_missed: false,
            item_cost_usd: 0.25,
            counted: true,
            left_at: None,
        }
    }

    /// Records in any settle order come out in task order, spilled to sorted runs or not.
    #[test]
    fn rows_come_out_in_task_order_whatever_the_settle_order() {
        let tmp = tempfile::tempdir().unwrap();
        let csv = tmp.path().join("tasks.csv");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut expected = Vec::new();
        for id in 0..500u64 {
            task_row(&mut expected, 0, &record(id));
        }
        for (r, spill, early) in [(0u32, usize::MAX, 8), (1, 7, EARLY), (2, 1, 8), (3, usize::MAX, EARLY)] {
            let mut order: Vec<u64> = (0..500).collect();
            // Mostly in order, with stragglers, like a run with a starved stream.
            order[..250].shuffle(&mut rng);
            order.swap(3, 499);
            order.swap(10, 300); // far ahead and back
            order[400..].reverse();
            let mut part = TasksPart::create(&csv, r).unwrap().limits(spill, early);
            for &id in &order {
                part.record(&record(id)).unwrap();
            }
            part.finish().unwrap();
            drop(part);
            let got = std::fs::read(part_path(&csv, r)).unwrap();
            let want = String::from_utf8(expected.clone()).unwrap().replace("\n0,", &format!("\n{r},"));
            let want = format!("{}{r}{}", if r == 0 { TASKS_CSV_HEADER } else { "" }, &want[1..]);
            assert_eq!(String::from_utf8(got).unwrap(), want, "spill after {spill}");
        }
        join_parts(&csv, 4).unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        assert_eq!(text.lines().count(), 1 + 4 * 500);
        assert!(text.contains("\"a,b\""), "a name with a comma is quoted");
        assert!(text.contains(",0,,1.5,,1.5,"), "{}", &text[..300]);
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1, "parts and runs are removed");
    }

    /// The formatter thread writes the same bytes as the part on the caller's thread: several
    /// streams and task types (names shared as the engine shares them), many batches, rows out
    /// of order.
    #[test]
    fn rows_built_on_a_thread_are_the_same_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let names: Vec<(std::sync::Arc<str>, std::sync::Arc<str>)> = (0..5).map(|i| (std::sync::Arc::from(format!("s{i}, \"q\"").as_str()), std::sync::Arc::from(format!("type{}", i % 2).as_str()))).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let n = 10_000u64;
        let mut order: Vec<u64> = (0..n).collect();
        for w in order.chunks_mut(40) {
            w.shuffle(&mut rng);
        }
        order.swap(5, 9_000);
        let rec = |id: u64| {
            let mut r = record(id);
            (r.stream, r.task_type) = names[(id % 5) as usize].clone();
            r
        };
        let mut bytes = Vec::new();
        for (k, threaded) in [false, true].into_iter().enumerate() {
            let csv = tmp.path().join(format!("t{k}.csv"));
            let part = TasksPart::create(&csv, 1).unwrap();
            let mut sink: Box<dyn RecordSink> = if threaded { Box::new(crate::tasks_thread::TasksOnThread::new(part).unwrap()) } else { Box::new(part) };
            for &id in &order {
                sink.record(&rec(id)).unwrap();
            }
            sink.finish().unwrap();
            drop(sink);
            bytes.push(std::fs::read(part_path(&csv, 1)).unwrap());
        }
        assert_eq!(bytes[0].iter().filter(|&&b| b == b'\n').count(), n as usize);
        assert!(bytes[0] == bytes[1], "the same bytes on the formatter thread");
    }
}

#[cfg(test)]
mod secs_tests {
    /// Exact seconds print as f64's Display prints µs / 10⁶.
    #[test]
    fn seconds_match_float_display() {
        for us in [0u64, 1, 10, 999_999, 1_000_000, 1_500_000, 9_070_232, 123_456_789_012, 86_400_000_000, 5_000_001] {
            let mut out = Vec::new();
            super::secs(&mut out, us);
            assert_eq!(String::from_utf8(out).unwrap(), (us as f64 / 1e6).to_string(), "{us}");
        }
    }
}

#[cfg(test)]
mod row_tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use std::sync::Arc;
    use tessera_engine::time::{Dur, SimTime};

    fn int(out: &mut Vec<u8>, v: impl itoa::Integer) {
        out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }
    fn secs_reference(out: &mut Vec<u8>, us: u64) {
        int(out, us / 1_000_000);
        let frac = us % 1_000_000;
        if frac != 0 {
            let mut digits = *b"000000";
            let mut f = frac;
            for d in digits.iter_mut().rev() {
                *d = b'0' + (f % 10) as u8;
                f /= 10;
            }
            let len = 6 - digits.iter().rev().take_while(|&&d| d == b'0').count();
            out.push(b'.');
            out.extend_from_slice(&digits[..len]);
        }
    }
    /// The row writer as it was before the stack buffer: the definition the fast one must match.
    fn task_row_reference(out: &mut Vec<u8>, rep: u32, t: &TaskRecord) {
        use std::io::Write as _;
        let time = |out: &mut Vec<u8>, x: Option<u64>| {
            if let Some(us) = x {
                secs_reference(out, us);
            }
            out.push(b',');
        };
        int(out, rep);
        out.push(b',');
        int(out, t.task);
        out.push(b',');
        field(out, &t.stream);
        out.push(b',');
        field(out, &t.task_type);
        out.push(b',');
        int(out, t.priority);
        out.push(b',');
        time(out, Some(t.arrival.0));
        time(out, t.first_start.map(|x| x.0));
        time(out, t.final_at.map(|x| x.0));
        time(out, t.wait.map(|x| x.0));
        time(out, t.time_in_system.map(|x| x.0));
        for n in [t.labels, t.walkaways, t.reworks, t.reopened] {
            int(out, n);
            out.push(b',');
        }
        time(out, Some(t.reopened_gap.0));
        if let Some(l) = t.final_label {
            int(out, l);
        }
        out.push(b',');
        if let Some(c) = t.confidence {
            let _ = write!(out, "{c}");
        }
        out.push(b',');
        int(out, t.true_label);
        out.push(b',');
        if let Some(c) = t.correct {
            out.extend_from_slice(if c { b"true" } else { b"false" });
        }
        out.push(b',');
        time(out, t.deadline.map(|x| x.0));
        out.extend_from_slice(if t.deadline_missed { b"true," } else { b"false," });
        if t.item_cost_usd == 0.0 {
            out.push(b'0');
        } else {
            let _ = write!(out, "{}", t.item_cost_usd);
        }
        out.extend_from_slice(if t.counted { b",true," } else { b",false," });
        if let Some(l) = t.left_at {
            secs_reference(out, l.0);
        }
        out.push(b'\n');
    }

    fn any_u64(g: &mut impl Rng) -> u64 {
        match g.random_range(0..6) {
            0 => 0,
            1 => g.random_range(0..10),
            2 => g.random_range(0..2_000_000),
            3 => g.random_range(0..1_000_000) * 1_000_000 + [0, 500_000, 10, 1, 999_999, 120_000][g.random_range(0..6)],
            4 => u64::MAX - g.random_range(0..3_000_000),
            _ => g.random(),
        }
    }

    #[test]
    fn integers_at_every_digit_count() {
        let mut all = vec![0u64, u64::MAX];
        for k in 0..20 {
            let p = 10u64.pow(k);
            all.extend([p - 1, p, p + 1, 2 * p - 1, p.saturating_mul(9)]);
        }
        for v in all {
            let mut out = Vec::new();
            let mut r = Row::new(&mut out);
            r.uint(v);
            r.flush();
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    /// The fast row writer gives the reference's bytes on random records, edge values included.
    #[test]
    fn rows_match_the_reference_writer() {
        let mut g = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        let names = ["calls", "a,b", "q\"uote", "", "x".repeat(47).leak(), "y".repeat(48).leak(), "z".repeat(49).leak(), "line\nbreak", "ünïcødé", "w".repeat(300).leak()];
        let floats32 = [1.0f32, 0.5, 2.0 / 3.0, 0.0, -0.0, 1e-40, 3.4e38, f32::NAN, f32::INFINITY, 0.1, 0.99999994, 1.0000001];
        let floats64 = [0.0f64, -0.0, 0.25, 0.1, 1e-300, 1e300, 123.456, f64::NAN, 5e-324, 7.0];
        for _ in 0..20_000 {
            let opt = |g: &mut rand_chacha::ChaCha8Rng| g.random_bool(0.8).then(|| any_u64(g));
            let t = TaskRecord {
                task: any_u64(&mut g),
                stream: Arc::from(names[g.random_range(0..names.len())]),
                task_type: Arc::from(names[g.random_range(0..names.len())]),
                priority: g.random(),
                arrival: SimTime(any_u64(&mut g)),
                first_start: opt(&mut g).map(SimTime),
                final_at: opt(&mut g).map(SimTime),
                wait: opt(&mut g).map(Dur),
                time_in_system: opt(&mut g).map(Dur),
                labels: g.random(),
                walkaways: g.random(),
                reworks: g.random(),
                reopened: g.random(),
                reopened_gap: Dur(any_u64(&mut g)),
                final_label: g.random_bool(0.8).then(|| g.random()),
                confidence: g.random_bool(0.8).then(|| if g.random_bool(0.5) { floats32[g.random_range(0..floats32.len())] } else { g.random() }),
                true_label: g.random(),
                correct: g.random_bool(0.8).then(|| g.random()),
                deadline: opt(&mut g).map(SimTime),
                deadline_missed: g.random(),
                item_cost_usd: if g.random_bool(0.5) { floats64[g.random_range(0..floats64.len())] } else { g.random::<f64>() * 10.0 },
                counted: g.random(),
                left_at: opt(&mut g).map(SimTime),
            };
            let rep = if g.random_bool(0.5) { g.random_range(0..4) } else { g.random() };
            let (mut fast, mut slow) = (b"prefix".to_vec(), b"prefix".to_vec());
            task_row(&mut fast, rep, &t);
            task_row_reference(&mut slow, rep, &t);
            assert_eq!(String::from_utf8_lossy(&fast), String::from_utf8_lossy(&slow));
            assert_eq!(fast, slow);
            let us = any_u64(&mut g);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            secs(&mut a, us);
            secs_reference(&mut b, us);
            assert_eq!(a, b, "{us}");
        }
    }
}
