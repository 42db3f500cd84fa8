//! Sliding windows of right/wrong answers per annotator (golden tasks, agreement with final
//! labels), the inputs of quality rules.

use std::collections::VecDeque;

/// The last `window` outcomes of every annotator.
#[derive(Clone, Debug)]
pub struct History {
    window: usize,
    outcomes: Vec<VecDeque<bool>>,
    /// Outcomes recorded since the last clear, per annotator.
    seen: Vec<u64>,
}

impl History {
    pub fn new(annotators: usize, window: usize) -> Self {
        History { window: window.max(1), outcomes: vec![VecDeque::new(); annotators], seen: vec![0; annotators] }
    }

    /// A new annotator (ids are dense: they get the next one).
    pub fn push(&mut self) {
        self.outcomes.push(VecDeque::new());
        self.seen.push(0);
    }

    pub fn record(&mut self, a: u32, right: bool) {
        let q = &mut self.outcomes[a as usize];
        if q.len() == self.window {
            q.pop_front();
        }
        q.push_back(right);
        self.seen[a as usize] += 1;
    }

    /// Forgets `a`'s outcomes (after a rule acted on them).
    pub fn clear(&mut self, a: u32) {
        self.outcomes[a as usize].clear();
        self.seen[a as usize] = 0;
    }

    /// Outcomes of `a` recorded since the last clear (however many the window keeps).
    pub fn seen(&self, a: u32) -> u64 {
        self.seen[a as usize]
    }

    /// Share right over the last `last` outcomes (at most the window) and how many there were.
    pub fn rate(&self, a: u32, last: usize) -> (f64, usize) {
        let q = &self.outcomes[a as usize];
        let n = q.len().min(last);
        if n == 0 {
            return (f64::NAN, 0);
        }
        let right = q.iter().rev().take(n).filter(|&&r| r).count();
        (right as f64 / n as f64, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn keeps_the_last_window() {
        let mut h = History::new(1, 3);
        for r in [false, false, true, true, true] {
            h.record(0, r);
        }
        assert_eq!(h.rate(0, 10), (1.0, 3));
        assert_eq!(h.rate(0, 2), (1.0, 2));
        assert!(History::new(1, 3).rate(0, 3).0.is_nan());
    }
}
