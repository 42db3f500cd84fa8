//! The dispatcher's books: a final label leaves the system, is counted in the monitor when it
//! settles (at once, or after `reopen_within` when a rule may re-open it), and gets its row in
//! tasks.csv; the end of the run settles the rest.

use super::quality::Provisional;
use super::*;
impl Dispatcher {
    pub(super) fn finalize(&mut self, slot: TaskSlot, now: SimTime) {
        let t = self.table.remove(slot);
        self.monitor.stream_count(t.view.stream, now, false);
        if self.monitor.in_window(now) {
            self.monitor.finals_in_window += 1;
        }
        let (label, _) = t.final_label.unwrap_or((0, 0.0));
        self.log(now, EventKind::Final, Some(t.view.serial), None, Some(label));
        // Agreement with the final label feeds trust and agreement rules.
        for &(a, l) in &t.labels {
            self.qc.agreement.record(a, l == label);
            self.qc.trust.observe(a, l == label, 0.5);
            self.annotators[a as usize].trust = self.qc.trust.value(a) as f32;
        }
        if self.qc.keeps_provisional {
            self.qc.provisional.push_back(Provisional { at: now, task: t });
        } else {
            self.settle(t, now);
        }
    }

    /// Counts a final task in the statistics and records it.
    pub(super) fn settle(&mut self, t: TaskState, at: SimTime) {
        self.finished += 1;
        let (label, conf) = t.final_label.unwrap_or((0, 0.0));
        let correct = label == t.truth;
        let missed = t.view.deadline.is_some_and(|d| at > d);
        if t.counted {
            let m = &mut self.monitor;
            m.completions += 1;
            m.tis_s.push(at.since(t.view.arrival).secs());
            m.correct += correct as u64;
            m.deadline_misses += missed as u64;
            m.final_labels_used += t.labels.len() as u64;
            let ty = &mut m.by_type[t.view.ttype as usize];
            ty.0 += correct as u64;
            ty.1 += 1;
            if self.cfg.quality.batch.is_some() && !t.labels.is_empty() {
                let id = self.batch_truth.len() as u32;
                self.batch_truth.push(t.truth as u32);
                self.batch_answers.extend(t.labels.iter().map(|&(a, l)| (id, a, l as u32)));
            }
        }
        if self.cfg.keep_records {
            let r = self.record(&t, Some((at, label, conf)), missed);
            self.records.push(r);
        }
    }

    pub(super) fn record(&self, t: &TaskState, fin: Option<(SimTime, u16, f32)>, missed: bool) -> TaskRecord {
        let info = &self.cfg.streams[t.view.stream as usize];
        let arrival = t.view.arrival;
        TaskRecord {
            task: t.view.serial,
            stream: info.name.clone(),
            task_type: info.task_type.clone(),
            priority: info.priority,
            arrival_s: arrival.secs(),
            first_start_s: t.first_start.map(|s| s.secs()),
            final_s: fin.map(|f| f.0.secs()),
            wait_s: t.first_start.map(|s| s.since(arrival).secs()),
            time_in_system_s: fin.map(|f| f.0.since(arrival).secs()),
            labels: t.labels.len() as u16,
            abandonments: t.abandonments,
            reworks: t.reworks,
            reopened: t.reopened,
            reopened_gap_s: t.reopened_gap as f64 / 1e6,
            final_label: fin.map(|f| f.1),
            confidence: fin.map(|f| f.2),
            true_label: t.truth,
            correct: fin.map(|f| f.1 == t.truth),
            deadline_s: t.view.deadline.map(|d| d.secs()),
            deadline_missed: missed,
            item_cost_usd: t.labor_cost,
            counted: t.counted,
        }
    }

    /// Task limit reached and every task final: the run can end.
    pub fn all_done(&self) -> bool {
        self.cfg.task_limit.is_some_and(|lim| self.finished + self.qc.provisional.len() as u64 >= lim)
    }

    /// Ends the run at `end`: settles provisional labels, closes open intervals, counts deadlines
    /// already missed by unfinished tasks, and records them.
    pub fn finish(&mut self, end: SimTime) {
        while let Some(p) = self.qc.provisional.pop_front() {
            self.settle(p.task, p.at);
        }
        for a in 0..self.annotators.len() as u32 {
            self.monitor.idle(a, end, self.doing[a as usize]);
        }
        self.monitor.close(end);
        self.monitor.queue.set(end, self.queue.len() as f64);
        self.monitor.in_system.set(end, (self.table.live() - self.gold_live) as f64);
        let mut open: Vec<&TaskState> = self.table.iter().filter(|t| !t.view.gold).collect();
        open.sort_by_key(|t| t.view.serial);
        let mut extra = Vec::new();
        for t in open {
            let missed = t.view.deadline.is_some_and(|d| end > d);
            if t.counted && missed {
                self.monitor.deadline_misses += 1;
            }
            if self.cfg.keep_records {
                extra.push(self.record(t, None, missed));
            }
        }
        self.records.extend(extra);
        self.records.sort_by_key(|r| r.task);
    }

    /// Counted tasks not final at the end.
    pub fn unfinished_counted(&self) -> u64 {
        self.table.iter().filter(|t| t.counted).count() as u64
    }
}
