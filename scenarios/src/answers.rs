//! Readers for crowd answer files (`task,worker,label`) and truth files (`task,label`).
//!
//! Columns are found by header name (extra columns are ignored, order does not matter; an answers
//! file may have the optional column `left`, the label shown on the left of a preference pair). Tasks and
//! workers get dense ids in order of first appearance; labels get dense ids in sorted order
//! (numeric order when every label is an integer, byte order otherwise), so that "ties go to the
//! lowest label id" means what crowd-kit means by "the lowest label". The original names are kept
//! for output. Files are streamed record by record; errors name the file, the line and what was
//! expected, and reading never panics.
//!
//! What a file cannot mean is an error; what it may mean but probably did not is a warning, kept
//! in [`AnswersFile::warnings`] and [`Truth::warnings`] for the caller to show. Nothing is dropped
//! without a word:
//!
//! - a quoted field that holds a line break in a column we read, or in an extra column whose later
//!   lines look like rows, is an unterminated quote that swallowed rows: an error naming the line
//!   where it starts and how many lines it runs over;
//! - repeated (task, worker) answers are kept, each a separate vote as in crowd-kit (so published
//!   agreement holds), with a warning giving their number and the lines of the first;
//! - in a truth or golden file, a label that is not among the answers' labels but is the same
//!   number or the same word in another case (`1.0` vs `1`, `Cat` vs `cat`) is an error that names
//!   both (labels are compared as text); other truth labels that no answer uses are scored as
//!   wrong with a warning (an error when no truth label occurs in the answers at all); golden
//!   labels must be answerable;
//! - a task given twice with the same label is a warning, with two labels an error naming both
//!   lines; rows for tasks without answers are not scored (warning); a file that shares no task
//!   with the answers is an error.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use tessera_engine::quality::aggregation::Answers;
pub use tessera_engine::quality::bias_batch::NO_LEFT;

/// A truth label that names a label no answer used: it can never be matched.
pub const UNSEEN_LABEL: u32 = u32::MAX - 1;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: cannot read: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: the file is empty; expected a header line with columns {expected}")]
    Empty { path: PathBuf, expected: &'static str },
    #[error("{path}, line 1: missing column {column:?}; expected columns {expected}, found {found:?}")]
    MissingColumn { path: PathBuf, column: &'static str, expected: &'static str, found: Vec<String> },
    #[error("{path}, line {line}: {message}")]
    Malformed { path: PathBuf, line: u64, message: String },
    #[error("{path}: no answers after the header; expected rows of {expected}")]
    NoRows { path: PathBuf, expected: &'static str },
    #[error("{path}: {message}")]
    Mismatch { path: PathBuf, message: String },
}

/// An answers file mapped to dense ids.
#[derive(Debug, Clone)]
pub struct AnswersFile {
    pub path: PathBuf,
    pub answers: Answers,
    pub task_names: Vec<String>,
    pub worker_names: Vec<String>,
    pub label_names: Vec<String>,
    /// Answers that repeat an earlier (task, worker) pair (kept: each is a vote).
    pub repeated: usize,
    /// With an optional column `left` (the label shown on the left, or first, of a preference
    /// pair): its label id per answer, [`NO_LEFT`] where the field is empty. None without the
    /// column.
    pub left: Option<Vec<u32>>,
    /// What the file may not mean as written, one sentence each, starting with the file name.
    pub warnings: Vec<String>,
}

impl AnswersFile {
    pub fn task_id(&self, name: &str) -> Option<u32> {
        self.task_names.iter().position(|n| n == name).map(|i| i as u32)
    }
}

/// What a truth or golden file is for: ground truth is only scored against, so a label no answer
/// used can simply never be matched; golden labels steer the fit and must be answerable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Truth,
    Golden,
}

impl Role {
    fn noun(self) -> &'static str {
        match self {
            Role::Truth => "truth",
            Role::Golden => "golden",
        }
    }
}

/// A truth or golden file read against an answers file.
#[derive(Debug, Clone)]
pub struct Truth {
    /// One entry per task of the answers file (`None` where the file says nothing).
    pub labels: Vec<Option<u32>>,
    /// Data rows in the file.
    pub rows: usize,
    /// Tasks of the answers file that have a label here (the tasks scored, for ground truth).
    pub tasks: usize,
    /// Rows naming a task that has no answers (not used).
    pub unknown_tasks: usize,
    /// Rows whose label no answer uses (ground truth only: scored, always wrong).
    pub unseen_labels: usize,
    /// Rows that repeat an earlier row's task with the same label.
    pub repeated: usize,
    /// What the file may not mean as written, one sentence each, starting with the file name.
    pub warnings: Vec<String>,
}

#[derive(Default)]
struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn get(&mut self, s: &str) -> u32 {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.names.len() as u32;
        self.ids.insert(s.to_owned(), id);
        self.names.push(s.to_owned());
        id
    }
}

fn open(path: &Path) -> Result<csv::Reader<Box<dyn Read>>, ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io { path: path.to_owned(), source })?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(Box::new(std::io::BufReader::with_capacity(1 << 16, file)) as Box<dyn Read>))
}

fn csv_error(path: &Path, e: csv::Error) -> ReadError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.into_kind() {
        csv::ErrorKind::Io(source) => ReadError::Io { path: path.to_owned(), source },
        csv::ErrorKind::Utf8 { err, .. } => {
            ReadError::Malformed { path: path.to_owned(), line, message: format!("invalid UTF-8: {err}") }
        }
        other => ReadError::Malformed { path: path.to_owned(), line, message: format!("{other:?}") },
    }
}

fn line_of(rec: &csv::StringRecord) -> u64 {
    rec.position().map(|p| p.line()).unwrap_or(0)
}

/// Lines a field spans (1 without a line break; `\r\n` is one break; a break that ends the field
/// ends its last line).
fn lines_spanned(s: &str) -> usize {
    let s = s.trim_end_matches(['\r', '\n']);
    1 + s.matches('\n').count() + s.match_indices('\r').filter(|(i, _)| s.as_bytes().get(i + 1) != Some(&b'\n')).count()
}

/// An unterminated quote swallows the rows after it into one field. A field holding a line break
/// is that error in a column we read (no task, worker or label spans lines), and in an extra
/// column when one of its later lines has as many commas as a row (a swallowed row); an extra
/// column may otherwise hold multi-line text.
fn check_spans(path: &Path, rec: &csv::StringRecord, read: &[usize], columns: usize, names: &[String]) -> Result<(), ReadError> {
    for (c, f) in rec.iter().enumerate() {
        if !f.contains(['\n', '\r']) {
            continue;
        }
        let rowlike = f.split(['\n', '\r']).skip(1).any(|l| l.matches(',').count() + 1 >= columns.max(2));
        if read.contains(&c) || rowlike {
            let name = names.get(c).map_or_else(|| format!("field {}", c + 1), |n| format!("column {n:?}"));
            return Err(ReadError::Malformed {
                path: path.to_owned(),
                line: line_of(rec),
                message: format!(
                    "a quoted field ({name}) runs over {} lines; unterminated quote? The rows inside it would be lost",
                    lines_spanned(f)
                ),
            });
        }
    }
    Ok(())
}

/// Reads the header and returns its column names and the index of each wanted column.
fn header<const N: usize>(
    path: &Path,
    rdr: &mut csv::Reader<Box<dyn Read>>,
    wanted: [&'static str; N],
    expected: &'static str,
) -> Result<(Vec<String>, [usize; N]), ReadError> {
    let mut rec = csv::StringRecord::new();
    let got = rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))?;
    if !got || (rec.len() == 1 && rec[0].trim().is_empty()) {
        return Err(ReadError::Empty { path: path.to_owned(), expected });
    }
    let all: Vec<usize> = (0..rec.len()).collect();
    check_spans(path, &rec, &all, rec.len(), &[])?;
    let found: Vec<String> = rec.iter().map(|s| s.trim().trim_start_matches('\u{feff}').to_owned()).collect();
    let mut out = [0usize; N];
    for (k, name) in wanted.iter().enumerate() {
        out[k] = found.iter().position(|f| f.eq_ignore_ascii_case(name)).ok_or_else(|| {
            ReadError::MissingColumn { path: path.to_owned(), column: name, expected, found: found.clone() }
        })?;
    }
    Ok((found, out))
}

fn field<'r>(path: &Path, rec: &'r csv::StringRecord, col: usize, name: &str, expected: &str) -> Result<&'r str, ReadError> {
    let line = line_of(rec);
    match rec.get(col).map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        Some(_) => Err(ReadError::Malformed {
            path: path.to_owned(),
            line,
            message: format!("empty {name}; expected a row of {expected}"),
        }),
        None => Err(ReadError::Malformed {
            path: path.to_owned(),
            line,
            message: format!("{} fields, no {name}; expected a row of {expected}", rec.len()),
        }),
    }
}

/// Sorted label order: numeric when every label parses as an integer, byte order otherwise.
/// Returns `remap[provisional id] = final id` and the names in final order.
fn sort_labels(names: Vec<String>) -> (Vec<u32>, Vec<String>) {
    let ints: Option<Vec<i128>> = names.iter().map(|n| n.parse::<i128>().ok()).collect();
    let mut order: Vec<usize> = (0..names.len()).collect();
    match &ints {
        Some(v) => order.sort_by_key(|&i| v[i]),
        None => order.sort_by(|&a, &b| names[a].cmp(&names[b])),
    }
    let mut remap = vec![0u32; names.len()];
    for (new, &old) in order.iter().enumerate() {
        remap[old] = new as u32;
    }
    let sorted = order.iter().map(|&i| names[i].clone()).collect();
    (remap, sorted)
}

const ANSWERS_COLUMNS: &str = "task,worker,label";
const TRUTH_COLUMNS: &str = "task,label";

/// `n` with thousands separators.
fn count(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{} {}", count(n), if n == 1 { one } else { many })
}

/// Reads an answers CSV with columns `task,worker,label` (found by name), and the optional column
/// `left`: the label shown on the left of a preference pair, one of the answers' labels (an error
/// naming the line otherwise), empty for an answer that was not on a shown pair.
pub fn read_answers(path: &Path) -> Result<AnswersFile, ReadError> {
    let mut rdr = open(path)?;
    let (names, [ct, cw, cl]) = header(path, &mut rdr, ["task", "worker", "label"], ANSWERS_COLUMNS)?;
    let cleft = names.iter().position(|f| f.eq_ignore_ascii_case("left"));
    let read: Vec<usize> = [ct, cw, cl].into_iter().chain(cleft).collect();
    let (mut tasks, mut workers, mut labels) = (Interner::default(), Interner::default(), Interner::default());
    let (mut t, mut w, mut l) = (Vec::new(), Vec::new(), Vec::new());
    // the left labels as written, with the line where each first appears
    let (mut lefts, mut left_line, mut left) = (Interner::default(), Vec::new(), Vec::new());
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue; // blank line
        }
        check_spans(path, &rec, &read, names.len(), &names)?;
        t.push(tasks.get(field(path, &rec, ct, "task", ANSWERS_COLUMNS)?));
        w.push(workers.get(field(path, &rec, cw, "worker", ANSWERS_COLUMNS)?));
        l.push(labels.get(field(path, &rec, cl, "label", ANSWERS_COLUMNS)?));
        if let Some(c) = cleft {
            match rec.get(c).map(str::trim).filter(|v| !v.is_empty()) {
                Some(v) => {
                    let id = lefts.get(v);
                    if id as usize == left_line.len() {
                        left_line.push(line_of(&rec));
                    }
                    left.push(id);
                }
                None => left.push(NO_LEFT),
            }
        }
    }
    if t.is_empty() {
        return Err(ReadError::NoRows { path: path.to_owned(), expected: ANSWERS_COLUMNS });
    }
    let left_ids: Vec<u32> = lefts
        .names
        .iter()
        .zip(&left_line)
        .map(|(name, &line)| {
            labels.ids.get(name.as_str()).copied().ok_or_else(|| ReadError::Malformed {
                path: path.to_owned(),
                line,
                message: format!("left label {name:?} is not the label of any answer; the column left names the label shown on the left of a pair, one of {}", some(&labels.names)),
            })
        })
        .collect::<Result<_, _>>()?;
    let (remap, label_names) = sort_labels(labels.names);
    l.iter_mut().for_each(|x| *x = remap[*x as usize]);
    left.iter_mut().filter(|x| **x != NO_LEFT).for_each(|x| *x = remap[left_ids[*x as usize] as usize]);
    let answers = Answers::new(tasks.names.len(), workers.names.len(), label_names.len(), t, w, l)
        .expect("ids are dense by construction");
    let mut file = AnswersFile {
        path: path.to_owned(),
        answers,
        task_names: tasks.names,
        worker_names: workers.names,
        label_names,
        repeated: 0,
        left: cleft.map(|_| left),
        warnings: Vec::new(),
    };
    repeated_answers(&mut file, ct, cw)?;
    Ok(file)
}

/// Counts the answers that repeat an earlier (task, worker) pair and, when there are some, warns
/// with the lines of the first one (found by a second pass over the file: only then).
fn repeated_answers(file: &mut AnswersFile, ct: usize, cw: usize) -> Result<(), ReadError> {
    let a = &file.answers;
    let idx = a.by_task();
    let mut stamp = vec![u32::MAX; a.n_workers];
    let (mut repeated, mut pairs, mut first) = (0usize, 0usize, usize::MAX);
    let mut counted = vec![u32::MAX; a.n_workers];
    for t in 0..a.n_tasks {
        for &i in idx.answers(t) {
            let w = a.worker[i as usize] as usize;
            if stamp[w] == t as u32 {
                repeated += 1;
                first = first.min(i as usize);
                if counted[w] != t as u32 {
                    counted[w] = t as u32;
                    pairs += 1;
                }
            }
            stamp[w] = t as u32;
        }
    }
    file.repeated = repeated;
    if repeated == 0 {
        return Ok(());
    }
    let (task, worker) = (&file.task_names[a.task[first] as usize], &file.worker_names[a.worker[first] as usize]);
    let mut lines = Vec::new();
    let mut rdr = open(&file.path)?;
    let mut rec = csv::StringRecord::new();
    rdr.read_record(&mut rec).map_err(|e| csv_error(&file.path, e))?;
    while lines.len() < 2 && rdr.read_record(&mut rec).map_err(|e| csv_error(&file.path, e))? {
        if rec.get(ct).map(str::trim) == Some(task.as_str()) && rec.get(cw).map(str::trim) == Some(worker.as_str()) {
            lines.push(line_of(&rec).to_string());
        }
    }
    file.warnings.push(format!(
        "{}: {} an earlier (task, worker) pair ({}; first: task {task:?}, worker {worker:?} at lines {}); each is kept as a separate vote, as crowd-kit does",
        file.path.display(),
        plural(repeated, "answer repeats", "answers repeat"),
        plural(pairs, "pair", "pairs"),
        lines.join(" and ")
    ));
    Ok(())
}

/// Up to four names, quoted, then "..." when there are more.
fn some(names: &[String]) -> String {
    let mut s: Vec<String> = names.iter().take(4).map(|n| format!("{n:?}")).collect();
    if names.len() > 4 {
        s.push("...".into());
    }
    s.join(", ")
}

/// The answers' label that `label` probably meant: the same number written differently (`1.0`,
/// `01`, `1e0` for `1`) or the same word in another case.
fn near_label<'a>(label: &str, answers: &'a AnswersFile) -> Option<&'a str> {
    let num = |s: &str| s.parse::<f64>().ok().filter(|x| x.is_finite());
    let x = num(label);
    answers
        .label_names
        .iter()
        .find(|n| match (x, num(n)) {
            (Some(x), Some(y)) => x == y,
            _ => n.eq_ignore_ascii_case(label),
        })
        .map(String::as_str)
}

/// Reads a truth or golden CSV with columns `task,label` against an answers file (see the module
/// doc for what is an error and what a warning). Labels are compared as text.
pub fn read_truth(path: &Path, answers: &AnswersFile, role: Role) -> Result<Truth, ReadError> {
    let mut rdr = open(path)?;
    let (names, [ct, cl]) = header(path, &mut rdr, ["task", "label"], TRUTH_COLUMNS)?;
    let noun = role.noun();
    let task_ids: HashMap<&str, u32> =
        answers.task_names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let label_ids: HashMap<&str, u32> =
        answers.label_names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let mut out = Truth { labels: vec![None; answers.task_names.len()], rows: 0, tasks: 0, unknown_tasks: 0, unseen_labels: 0, repeated: 0, warnings: Vec::new() };
    // Per task of the answers: the line that gave its label, and the label as written.
    let mut given: HashMap<u32, (u64, String)> = HashMap::new();
    let (mut first_unknown, mut first_unseen, mut first_repeat) = (None, None, None);
    let mut unseen_names: Vec<String> = Vec::new();
    let mut far: std::collections::HashSet<String> = std::collections::HashSet::new();
    let (mut folded, mut case_only, mut first_case): (Option<HashMap<String, &str>>, usize, Option<(String, String)>) = (None, 0, None);
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue;
        }
        check_spans(path, &rec, &[ct, cl], names.len(), &names)?;
        out.rows += 1;
        let line = line_of(&rec);
        let task = field(path, &rec, ct, "task", TRUTH_COLUMNS)?;
        let label = field(path, &rec, cl, "label", TRUTH_COLUMNS)?;
        let Some(&t) = task_ids.get(task) else {
            out.unknown_tasks += 1;
            first_unknown.get_or_insert((line, task.to_owned()));
            // Built at the first unknown task only: the answers' tasks by lower-case name.
            let lower = folded.get_or_insert_with(|| answers.task_names.iter().map(|n| (n.to_lowercase(), n.as_str())).collect());
            if let Some(n) = lower.get(&task.to_lowercase()) {
                case_only += 1;
                first_case.get_or_insert((task.to_owned(), n.to_string()));
            }
            continue;
        };
        if let Some((earlier, was)) = given.get(&t) {
            if was == label {
                out.repeated += 1;
                first_repeat.get_or_insert((line, *earlier, task.to_owned()));
                continue;
            }
            return Err(ReadError::Malformed {
                path: path.to_owned(),
                line,
                message: format!("task {task:?} has {noun} label {label:?} here but {was:?} at line {earlier}; a task has one {noun} label"),
            });
        }
        given.insert(t, (line, label.to_owned()));
        let id = match label_ids.get(label) {
            Some(&id) => id,
            None => {
                // Checked once per distinct label: a label with no near match stays without one.
                let near = if far.contains(label) { None } else { near_label(label, answers) };
                if let Some(near) = near {
                    return Err(ReadError::Malformed {
                        path: path.to_owned(),
                        line,
                        message: format!(
                            "{noun} label {label:?} (task {task:?}) never occurs in the answers; answers use {near:?} — did you mean it? Labels are compared as text: write them as the answers do"
                        ),
                    });
                }
                if role == Role::Golden {
                    return Err(ReadError::Malformed {
                        path: path.to_owned(),
                        line,
                        message: format!(
                            "golden label {label:?} of task {task:?} never occurs in the answers (answered labels: {}); a golden label must be one the workers could give",
                            some(&answers.label_names)
                        ),
                    });
                }
                if far.len() < 1 << 16 {
                    far.insert(label.to_owned());
                }
                out.unseen_labels += 1;
                first_unseen.get_or_insert((line, task.to_owned(), label.to_owned()));
                if unseen_names.len() <= 4 && !unseen_names.iter().any(|n| n == label) {
                    unseen_names.push(label.to_owned());
                }
                UNSEEN_LABEL
            }
        };
        out.labels[t as usize] = Some(id);
        out.tasks += 1;
    }
    if out.rows == 0 {
        return Err(ReadError::NoRows { path: path.to_owned(), expected: TRUTH_COLUMNS });
    }
    let shown = path.display();
    if out.tasks == 0 {
        let (line, task) = first_unknown.unwrap_or_default();
        return Err(ReadError::Mismatch {
            path: path.to_owned(),
            message: format!(
                "none of its {} names a task of {} (first: task {task:?} at line {line}; the answers' tasks include {}){}; are these files a pair?",
                plural(out.rows, "row", "rows"),
                answers.path.display(),
                some(&answers.task_names[..answers.task_names.len().min(5)]),
                match &first_case {
                    Some((ours, theirs)) => format!("; {} in another letter case (first: {ours:?} here, {theirs:?} there): task names are compared as text", plural(case_only, "matches", "match")),
                    None => String::new(),
                }
            ),
        });
    }
    if out.unseen_labels == out.tasks {
        return Err(ReadError::Mismatch {
            path: path.to_owned(),
            message: format!(
                "none of its labels occurs in the answers ({noun} uses {}; answers use {}): nothing could be scored; are these files a pair?",
                some(&unseen_names),
                some(&answers.label_names)
            ),
        });
    }
    if let Some((line, task, label)) = first_unseen {
        out.warnings.push(format!(
            "{shown}: {} of {} {noun} rows have a label that no answer uses (first: line {line}, task {task:?}, label {label:?}); those tasks are scored and count as wrong",
            count(out.unseen_labels),
            count(out.tasks)
        ));
    }
    if let Some((line, earlier, task)) = first_repeat {
        out.warnings.push(format!(
            "{shown}: {} the same task with the same label again (first: task {task:?} at lines {earlier} and {line}); counted once",
            plural(out.repeated, "row gives", "rows give")
        ));
    }
    if let Some((line, task)) = first_unknown {
        let case = match first_case {
            Some((ours, theirs)) => format!(
                "; {} in another letter case (first: {ours:?} here, {theirs:?} in the answers), and task names are compared as text",
                plural(case_only, "of them matches a task of the answers", "of them match tasks of the answers")
            ),
            None => String::new(),
        };
        out.warnings.push(format!(
            "{shown}: {} of {} rows name a task that has no answers (first: line {line}, task {task:?}); not {}{case}",
            count(out.unknown_tasks),
            count(out.rows),
            if role == Role::Truth { "scored" } else { "used" }
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn integer_labels_sort_numerically_and_extra_columns_are_ignored() {
        let f = file("worker,extra,label,task\nw1,x,10,a\nw2,y,9,a\nw1,z,2,b\n");
        let a = read_answers(f.path()).unwrap();
        assert_eq!(a.label_names, vec!["2", "9", "10"]);
        assert_eq!(a.answers.label, vec![2, 1, 0]);
        assert_eq!(a.task_names, vec!["a", "b"]);
        assert_eq!(a.worker_names, vec!["w1", "w2"]);
    }

    #[test]
    fn the_optional_left_column_is_read_in_the_label_space() {
        let f = file("task,worker,label\n1,w,10\n");
        assert_eq!(read_answers(f.path()).unwrap().left, None);
        let f = file("task,worker,label,Left\n1,w,10,9\n1,v,9,\n2,w,9,10\n");
        let a = read_answers(f.path()).unwrap();
        assert_eq!(a.label_names, vec!["9", "10"]);
        assert_eq!(a.left, Some(vec![0, NO_LEFT, 1]));
        let f = file("task,worker,label,left\n1,w,A,A\n1,v,B,A\n2,w,B,C\n");
        let e = read_answers(f.path()).unwrap_err().to_string();
        assert!(e.contains("line 4") && e.contains("left label \"C\""), "{e}");
    }

    #[test]
    fn string_labels_sort_by_bytes() {
        let f = file("task,worker,label\n1,w,pos\n1,v,neg\n");
        let a = read_answers(f.path()).unwrap();
        assert_eq!(a.label_names, vec!["neg", "pos"]);
    }

    #[test]
    fn errors_name_file_line_and_expectation() {
        let f = file("task,worker\n1,2\n");
        let e = read_answers(f.path()).unwrap_err().to_string();
        assert!(e.contains("missing column \"label\"") && e.contains(&f.path().display().to_string()), "{e}");
        let f = file("");
        assert!(read_answers(f.path()).unwrap_err().to_string().contains("empty"));
        let f = file("task,worker,label\n1,2,3\n4,5\n");
        let e = read_answers(f.path()).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("expected a row of task,worker,label"), "{e}");
        let f = file("task,worker,label\n1,,3\n");
        assert!(read_answers(f.path()).unwrap_err().to_string().contains("line 2: empty worker"));
        let f = file("task,worker,label\n");
        assert!(read_answers(f.path()).unwrap_err().to_string().contains("no answers"));
        let e = read_answers(Path::new("/nonexistent/x.csv")).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/x.csv"));
    }

    #[test]
    fn truth_maps_to_answer_ids() {
        let a = read_answers(file("task,worker,label\na,w,1\nb,w,0\n").path()).unwrap();
        let g = read_truth(file("task,label\nb,1\nzz,0\na,7\n").path(), &a, Role::Truth).unwrap();
        assert_eq!(g.labels, vec![Some(UNSEEN_LABEL), Some(1)]);
        assert_eq!((g.rows, g.tasks, g.unknown_tasks, g.unseen_labels), (3, 2, 1, 1));
        assert!(g.warnings.iter().any(|w| w.contains("1 of 2 truth rows have a label that no answer uses (first: line 4, task \"a\", label \"7\")")), "{:?}", g.warnings);
        assert!(g.warnings.iter().any(|w| w.ends_with("1 of 3 rows name a task that has no answers (first: line 3, task \"zz\"); not scored")), "{:?}", g.warnings);
        let g = read_truth(file("task,label\nb,1\nA,0\nzz,0\n").path(), &a, Role::Truth).unwrap();
        assert!(g.warnings.iter().any(|w| w.ends_with("2 of 3 rows name a task that has no answers (first: line 3, task \"A\"); not scored; 1 of them matches a task of the answers in another letter case (first: \"A\" here, \"a\" in the answers), and task names are compared as text")), "{:?}", g.warnings);
        let e = read_truth(file("task,label\na,7\n").path(), &a, Role::Golden).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("\"7\""), "{e}");
    }

    #[test]
    fn the_same_number_written_differently_is_an_error_that_says_so() {
        let a = read_answers(file("task,worker,label\na,w,1\nb,w,0\n").path()).unwrap();
        for (truth, near) in [("1.0", "1"), ("01", "1"), ("0.0", "0"), ("1e0", "1")] {
            let e = read_truth(file(&format!("task,label\nb,0\na,{truth}\n")).path(), &a, Role::Truth).unwrap_err().to_string();
            assert!(e.contains(&format!("line 3: truth label \"{truth}\" (task \"a\") never occurs in the answers; answers use \"{near}\" — did you mean it?")), "{e}");
        }
        let a = read_answers(file("task,worker,label\na,w,cat\nb,w,dog\n").path()).unwrap();
        let e = read_truth(file("task,label\na,Cat\n").path(), &a, Role::Golden).unwrap_err().to_string();
        assert!(e.contains("golden label \"Cat\" (task \"a\") never occurs in the answers; answers use \"cat\""), "{e}");
    }

    #[test]
    fn duplicate_truth_rows_warn_when_identical_and_fail_when_they_conflict() {
        let a = read_answers(file("task,worker,label\na,w,1\nb,w,0\n").path()).unwrap();
        let g = read_truth(file("task,label\na,1\nb,0\na,1\n").path(), &a, Role::Truth).unwrap();
        assert_eq!((g.tasks, g.repeated), (2, 1));
        assert!(g.warnings.iter().any(|w| w.contains("1 row gives the same task with the same label again (first: task \"a\" at lines 2 and 4); counted once")), "{:?}", g.warnings);
        let e = read_truth(file("task,label\na,1\nb,0\na,0\n").path(), &a, Role::Truth).unwrap_err().to_string();
        assert!(e.contains("line 4: task \"a\" has truth label \"0\" here but \"1\" at line 2"), "{e}");
    }

    #[test]
    fn truth_that_shares_nothing_with_the_answers_is_an_error() {
        let a = read_answers(file("task,worker,label\na,w,1\nb,w,0\n").path()).unwrap();
        let e = read_truth(file("task,label\nx,1\ny,0\n").path(), &a, Role::Golden).unwrap_err().to_string();
        assert!(e.contains("none of its 2 rows names a task of") && e.contains("first: task \"x\" at line 2") && e.contains("\"a\", \"b\""), "{e}");
        let e = read_truth(file("task,label\na,yes\nb,no\n").path(), &a, Role::Truth).unwrap_err().to_string();
        assert!(e.contains("none of its labels occurs in the answers (truth uses \"yes\", \"no\"; answers use \"0\", \"1\")"), "{e}");
    }

    #[test]
    fn an_unterminated_quote_is_an_error_at_its_line() {
        // In the label column: the rest of the file is swallowed into one label.
        let e = read_answers(file("task,worker,label\na,w,1\nb,w,\"0\nc,w,1\nd,w,0\n").path()).unwrap_err().to_string();
        assert!(e.contains("line 3: a quoted field (column \"label\") runs over 3 lines; unterminated quote?"), "{e}");
        // In an extra column whose later lines are rows.
        let e = read_answers(file("task,worker,label,note\na,w,1,\"x\r\nb,w,0,y\r\n").path()).unwrap_err().to_string();
        assert!(e.contains("line 2: a quoted field (column \"note\") runs over 2 lines"), "{e}");
        // In a truth file, and in a header.
        let a = read_answers(file("task,worker,label\na,w,1\nb,w,0\n").path()).unwrap();
        let e = read_truth(file("task,label\n\"a,1\nb,0\n").path(), &a, Role::Truth).unwrap_err().to_string();
        assert!(e.contains("line 2: a quoted field (column \"task\") runs over 2 lines"), "{e}");
        let e = read_answers(file("task,\"worker,label\na,w,1\n").path()).unwrap_err().to_string();
        assert!(e.contains("line 1: a quoted field (field 2) runs over 2 lines"), "{e}");
        // Multi-line text in an extra column is fine.
        let a = read_answers(file("task,worker,label,note\na,w,1,\"two\nlines\"\nb,w,0,x\n").path()).unwrap();
        assert_eq!(a.answers.len(), 2);
    }

    #[test]
    fn repeated_answers_are_kept_and_counted_with_the_first_lines() {
        let a = read_answers(file("task,worker,label\na,w,1\nb,w,0\na,v,1\nb,w,1\nb,w,0\na,v,1\n").path()).unwrap();
        assert_eq!(a.answers.len(), 6);
        assert_eq!(a.repeated, 3);
        assert_eq!(a.warnings.len(), 1);
        assert!(a.warnings[0].contains("3 answers repeat an earlier (task, worker) pair (2 pairs; first: task \"b\", worker \"w\" at lines 3 and 5); each is kept as a separate vote, as crowd-kit does"), "{:?}", a.warnings);
        let a = read_answers(file("task,worker,label\na,w,1\nb,w,0\n").path()).unwrap();
        assert_eq!((a.repeated, a.warnings.len()), (0, 0));
    }
}
