//! Readers for crowd answer files (`task,worker,label`) and truth files (`task,label`).
//!
//! Columns are found by header name (extra columns are ignored, order does not matter). Tasks and
//! workers get dense ids in order of first appearance; labels get dense ids in sorted order
//! (numeric order when every label is an integer, byte order otherwise), so that "ties go to the
//! lowest label id" means what crowd-kit means by "the lowest label". The original names are kept
//! for output. Files are streamed record by record; errors name the file, the line and what was
//! expected, and reading never panics.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use tessera_engine::quality::aggregation::Answers;

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
}

/// An answers file mapped to dense ids.
#[derive(Debug, Clone)]
pub struct AnswersFile {
    pub answers: Answers,
    pub task_names: Vec<String>,
    pub worker_names: Vec<String>,
    pub label_names: Vec<String>,
}

impl AnswersFile {
    pub fn task_id(&self, name: &str) -> Option<u32> {
        self.task_names.iter().position(|n| n == name).map(|i| i as u32)
    }
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

/// Reads the header and returns the index of each wanted column.
fn header<const N: usize>(
    path: &Path,
    rdr: &mut csv::Reader<Box<dyn Read>>,
    wanted: [&'static str; N],
    expected: &'static str,
) -> Result<[usize; N], ReadError> {
    let mut rec = csv::StringRecord::new();
    let got = rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))?;
    if !got || (rec.len() == 1 && rec[0].trim().is_empty()) {
        return Err(ReadError::Empty { path: path.to_owned(), expected });
    }
    let found: Vec<String> = rec.iter().map(|s| s.trim().trim_start_matches('\u{feff}').to_owned()).collect();
    let mut out = [0usize; N];
    for (k, name) in wanted.iter().enumerate() {
        out[k] = found.iter().position(|f| f.eq_ignore_ascii_case(name)).ok_or_else(|| {
            ReadError::MissingColumn { path: path.to_owned(), column: name, expected, found: found.clone() }
        })?;
    }
    Ok(out)
}

fn field<'r>(path: &Path, rec: &'r csv::StringRecord, col: usize, name: &str, expected: &str) -> Result<&'r str, ReadError> {
    let line = rec.position().map(|p| p.line()).unwrap_or(0);
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

/// Reads an answers CSV with columns `task,worker,label` (found by name).
pub fn read_answers(path: &Path) -> Result<AnswersFile, ReadError> {
    let mut rdr = open(path)?;
    let [ct, cw, cl] = header(path, &mut rdr, ["task", "worker", "label"], ANSWERS_COLUMNS)?;
    let (mut tasks, mut workers, mut labels) = (Interner::default(), Interner::default(), Interner::default());
    let (mut t, mut w, mut l) = (Vec::new(), Vec::new(), Vec::new());
    let mut rec = csv::StringRecord::new();
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue; // blank line
        }
        t.push(tasks.get(field(path, &rec, ct, "task", ANSWERS_COLUMNS)?));
        w.push(workers.get(field(path, &rec, cw, "worker", ANSWERS_COLUMNS)?));
        l.push(labels.get(field(path, &rec, cl, "label", ANSWERS_COLUMNS)?));
    }
    if t.is_empty() {
        return Err(ReadError::NoRows { path: path.to_owned(), expected: ANSWERS_COLUMNS });
    }
    let (remap, label_names) = sort_labels(labels.names);
    l.iter_mut().for_each(|x| *x = remap[*x as usize]);
    let answers = Answers::new(tasks.names.len(), workers.names.len(), label_names.len(), t, w, l)
        .expect("ids are dense by construction");
    Ok(AnswersFile { answers, task_names: tasks.names, worker_names: workers.names, label_names })
}

/// Reads a truth or golden CSV with columns `task,label` against an answers file: one entry per
/// task of the answers file (`None` where the file says nothing). Tasks absent from the answers are
/// ignored. A label that no answer used becomes [`UNSEEN_LABEL`] when `allow_unseen` (ground
/// truth: it simply can never be matched) and an error otherwise (golden labels must be
/// answerable).
pub fn read_truth(path: &Path, answers: &AnswersFile, allow_unseen: bool) -> Result<Vec<Option<u32>>, ReadError> {
    let mut rdr = open(path)?;
    let [ct, cl] = header(path, &mut rdr, ["task", "label"], TRUTH_COLUMNS)?;
    let task_ids: HashMap<&str, u32> =
        answers.task_names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let label_ids: HashMap<&str, u32> =
        answers.label_names.iter().enumerate().map(|(i, n)| (n.as_str(), i as u32)).collect();
    let ints: Option<HashMap<i128, u32>> = answers
        .label_names
        .iter()
        .enumerate()
        .map(|(i, n)| n.parse::<i128>().ok().map(|v| (v, i as u32)))
        .collect();
    let mut out = vec![None; answers.task_names.len()];
    let mut rec = csv::StringRecord::new();
    let mut rows = 0usize;
    while rdr.read_record(&mut rec).map_err(|e| csv_error(path, e))? {
        if rec.len() == 1 && rec[0].trim().is_empty() {
            continue;
        }
        rows += 1;
        let task = field(path, &rec, ct, "task", TRUTH_COLUMNS)?;
        let label = field(path, &rec, cl, "label", TRUTH_COLUMNS)?;
        let Some(&t) = task_ids.get(task) else { continue };
        let id = label_ids
            .get(label)
            .copied()
            .or_else(|| ints.as_ref().and_then(|m| label.parse::<i128>().ok().and_then(|v| m.get(&v).copied())));
        out[t as usize] = Some(match id {
            Some(id) => id,
            None if allow_unseen => UNSEEN_LABEL,
            None => {
                return Err(ReadError::Malformed {
                    path: path.to_owned(),
                    line: rec.position().map(|p| p.line()).unwrap_or(0),
                    message: format!(
                        "label {label:?} of task {task:?} is not among the answered labels {:?}",
                        answers.label_names
                    ),
                })
            }
        });
    }
    if rows == 0 {
        return Err(ReadError::NoRows { path: path.to_owned(), expected: TRUTH_COLUMNS });
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
        let g = read_truth(file("task,label\nb,1\nzz,0\na,7\n").path(), &a, true).unwrap();
        assert_eq!(g, vec![Some(UNSEEN_LABEL), Some(1)]);
        let e = read_truth(file("task,label\na,7\n").path(), &a, false).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("\"7\""), "{e}");
    }
}
