//! Bias detection in a simulated run, from what the operation itself sees (final labels,
//! golden answers and the order preference pairs were shown in; never the hidden truth), scored
//! at the end against the biases the scenario planted (`pools.bias`).
//!
//! Class bias: each annotator's answers on a stream against a leave-one-out Dawid-Skene reference
//! learned online (`quality::online_ds`: tasks with at least two labels, since a lone label is its
//! own reference and says nothing; streams of at most 16 classes) and against golden answers, one
//! test unit per (annotator, stream). Position bias: each annotator's picks of the
//! left-shown answer over every preference pair they answered (labels, extras and golden pairs).
//! Statistics, tests and Benjamini-Hochberg are `quality::bias`'s. Memory: a few counters per
//! (annotator, stream, class used), nothing per task. The tests count the answers of the
//! statistics window (after `run.warmup`); the matrices behind the class references learn from
//! the whole run, so the window's references come from matrices that have already seen the
//! warm-up (online EM's first sweep is weakest at the start). A final label re-opened by a ban
//! counts again when it is final again.

use crate::core::StreamInfo;
use crate::domain::annotator::PlantedBias;
use crate::quality::bias::{benjamini_hochberg, class_bias, position_bias};
use crate::quality::online_ds::OnlineDs;
use serde::Serialize;

/// Fewest answers for an annotator (on a stream, for class bias) to be tested.
pub const MIN_ANSWERS: u32 = 20;
/// False-discovery rate at which annotators are flagged.
pub const FDR: f64 = 0.1;

/// The counters, per annotator.
#[derive(Clone, Debug, Default)]
pub struct BiasBook {
    /// Confusion matrices against leave-one-out references.
    ds: OnlineDs,
    /// (picks of the left-shown answer, preference pairs answered)
    left: Vec<(u32, u32)>,
}

/// One test unit's row of bias.csv.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BiasRow {
    pub annotator: String,
    pub pool: String,
    /// "class" or "position".
    pub kind: &'static str,
    /// The stream (class bias), or "" (position bias, over every preference-pair stream).
    pub stream: String,
    /// The class over-used (its number) or the side picked ("left", "right").
    pub toward: String,
    pub answers: u64,
    pub strength: f64,
    pub p: f64,
    pub q: f64,
    pub flagged: bool,
    /// The scenario planted this kind of bias in this annotator.
    pub planted: bool,
}

/// How well one kind of bias was found.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Detection {
    /// Annotators with a test (enough answers).
    pub tested: u64,
    /// Of those, flagged at a false-discovery rate of 0.1.
    pub flagged: u64,
    /// Of those tested, annotators the scenario planted this bias in.
    pub planted: u64,
    /// Share of the planted ones flagged (none planted: null).
    pub recall: Option<f64>,
    /// Share of the flagged ones not planted, 0 when none is flagged (Benjamini and Hochberg's
    /// false-discovery proportion V / max(R, 1), whose mean over replications is the FDR).
    pub false_discovery: f64,
}

/// The summary's `bias` section.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct BiasFigures {
    pub class: Detection,
    pub position: Detection,
}

impl BiasBook {
    pub fn new(annotators: usize) -> BiasBook {
        BiasBook { ds: OnlineDs::new(annotators), left: vec![(0, 0); annotators] }
    }

    /// The labels behind a final label of `stream` (`k` classes); tested when `in_window`.
    pub fn final_label(&mut self, stream: u16, k: u16, labels: &[(u32, u16)], in_window: bool) {
        self.ds.observe(stream, k, labels, in_window);
    }

    /// A golden answer; tested when `in_window`.
    pub fn gold(&mut self, a: u32, stream: u16, k: u16, expected: u16, label: u16, in_window: bool) {
        self.ds.gold(a, stream, k, expected, label, in_window);
    }

    /// A pick on a preference pair: `left` = the answer shown on the left.
    pub fn pick(&mut self, a: u32, left: bool) {
        let c = &mut self.left[a as usize];
        c.0 += left as u32;
        c.1 += 1;
    }

    /// Tests every unit with enough answers, flags at [`FDR`], and scores against `planted`.
    pub fn detect(&self, streams: &[StreamInfo], names: &[String], pools: &[String], pool_of: &[u16], planted: &[Option<PlantedBias>]) -> (BiasFigures, Vec<BiasRow>) {
        let row = |a: usize, kind, stream: String, toward: String, answers: u64, strength: f64, p: f64, planted: bool| BiasRow {
            annotator: names.get(a).cloned().unwrap_or_default(),
            pool: pool_of.get(a).and_then(|&p| pools.get(p as usize)).cloned().unwrap_or_default(),
            kind,
            stream,
            toward,
            answers,
            strength,
            p,
            q: 1.0,
            flagged: false,
            planted,
        };
        let is_class = |a: usize| matches!(planted.get(a), Some(Some(PlantedBias::Class { .. })));
        let is_position = |a: usize| matches!(planted.get(a), Some(Some(PlantedBias::Position { .. })));
        let mut class_rows = Vec::new();
        let mut owners = Vec::new();
        for a in 0..self.left.len() {
            for m in self.ds.matrices(a).iter().filter(|m| m.answers >= MIN_ANSWERS) {
                let (tallies, total) = m.tallies();
                let Some(b) = class_bias(&tallies, total, m.k as u32) else { continue };
                let name = streams.get(m.stream as usize).map(|i| i.name.clone()).unwrap_or_default();
                class_rows.push(row(a, "class", name, b.toward.to_string(), m.answers as u64, b.strength, b.p, is_class(a)));
                owners.push(a);
            }
        }
        let mut position_rows = Vec::new();
        let mut position_owners = Vec::new();
        for (a, &(left, n)) in self.left.iter().enumerate() {
            if n >= MIN_ANSWERS {
                let b = position_bias(left as u64, n as u64);
                let toward = if b.strength >= 0.0 { "left" } else { "right" };
                position_rows.push(row(a, "position", String::new(), toward.into(), n as u64, b.strength, b.p, is_position(a)));
                position_owners.push(a);
            }
        }
        let class = score(&mut class_rows, &owners, is_class);
        let position = score(&mut position_rows, &position_owners, is_position);
        class_rows.extend(position_rows);
        (BiasFigures { class, position }, class_rows)
    }
}

/// Benjamini-Hochberg over `rows`, then per annotator (flagged when any of their units is).
fn score(rows: &mut [BiasRow], owners: &[usize], planted: impl Fn(usize) -> bool) -> Detection {
    let q = benjamini_hochberg(&rows.iter().map(|r| r.p).collect::<Vec<_>>());
    for (r, q) in rows.iter_mut().zip(q) {
        r.q = q;
        r.flagged = q <= FDR;
    }
    // `owners` ascends (rows are made annotator by annotator): a person's units are adjacent.
    let mut people: Vec<(usize, bool)> = Vec::new();
    for (r, &a) in rows.iter().zip(owners) {
        match people.last_mut() {
            Some(p) if p.0 == a => p.1 |= r.flagged,
            _ => people.push((a, r.flagged)),
        }
    }
    let tested = people.len() as u64;
    let flagged = people.iter().filter(|p| p.1).count() as u64;
    let planted_n = people.iter().filter(|p| planted(p.0)).count() as u64;
    let hits = people.iter().filter(|p| p.1 && planted(p.0)).count() as u64;
    Detection {
        tested,
        flagged,
        planted: planted_n,
        recall: (planted_n > 0).then(|| hits as f64 / planted_n as f64),
        false_discovery: (flagged - hits) as f64 / flagged.max(1) as f64,
    }
}
