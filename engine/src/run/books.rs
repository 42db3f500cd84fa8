//! The simulation's books: they read the decision core's effect stream and keep the monitor
//! (figures), the ledger (cost), the per-task records (tasks.csv) and the trace (v2). They also
//! hold the simulation's oracle, the hidden truth and difficulty of each task, which the core
//! never sees: the synthetic annotators work from it and accuracy is scored against it.

use super::record::{RecordSink, TaskRecord, TraceEvent, TraceHeader, TraceSink};
use crate::core::ids::IdTable;
use crate::core::{AnnotatorId, Core, Effect, LabelFate, StreamInfo, TaskId};
use crate::ledger::{Ledger, WorkKind};
use crate::metrics::Monitor;
use crate::time::{Dur, Epoch, SimTime};
use smallvec::SmallVec;
use std::sync::Arc;

/// What the simulation knows about a task that the operation does not.
#[derive(Clone, Copy, Debug)]
pub struct Hidden {
    pub truth: u16,
    /// [0, 1] -- 0 = annotator's own accuracy, 1 = coin flip.
    pub difficulty: f32,
    /// The real learner's item (`domain::NO_ITEM` for a synthetic task).
    pub item: u32,
}

/// A final label waiting to settle.
#[derive(Clone, Debug)]
struct FinalInfo {
    at: SimTime,
    label: u16,
    confidence: f32,
    /// Counted labels behind it.
    used: u16,
    /// Those labels, kept only for the batch re-aggregation.
    labels: SmallVec<[(AnnotatorId, u16); 4]>,
}

/// The books' projection of a task that has not settled.
#[derive(Clone, Debug)]
struct Pending {
    hidden: Hidden,
    stream: u16,
    arrival: SimTime,
    /// Arrived inside the statistics window.
    counted: bool,
    first_start: Option<SimTime>,
    abandonments: u16,
    reworks: u16,
    reopened: u16,
    /// [µs] spent final before a ban re-opened it.
    reopened_gap: u64,
    /// [USD] per-item pay charged to it inside the window.
    labor_cost: f64,
    fin: Option<FinalInfo>,
    /// The stage row it is in, and since when.
    stage: Option<(u16, SimTime)>,
}

/// Where the trace goes, with the names it writes.
pub struct Trace {
    pub sink: Box<dyn TraceSink>,
    pub epoch: Epoch,
    pub replication: u32,
    /// Annotator names ("pool/n"), by id.
    pub annotators: Vec<String>,
    /// The first write error (the run reports it at the end).
    pub error: Option<String>,
    line: Vec<u8>,
}

impl Trace {
    pub fn new(mut sink: Box<dyn TraceSink>, header: &TraceHeader, annotators: Vec<String>) -> Trace {
        let mut line = serde_json::to_vec(header).unwrap_or_default();
        line.push(b'\n');
        let error = sink.write(&line).err();
        Trace { sink, epoch: Epoch(header.epoch_unix_us), replication: header.replication, annotators, error, line: Vec::new() }
    }
}

/// Writes one trace line through `sink` (the first error is kept, and later lines are dropped).
fn write_line(sink: &mut dyn TraceSink, line: &mut Vec<u8>, error: &mut Option<String>, ev: &TraceEvent) {
    if error.is_some() {
        return;
    }
    line.clear();
    if let Err(err) = serde_json::to_writer(&mut *line, ev) {
        *error = Some(err.to_string());
        return;
    }
    line.push(b'\n');
    if let Err(err) = sink.write(line) {
        *error = Some(err);
    }
}

/// Monitor, ledger, records and trace, fed by effects.
pub struct Books {
    pub streams: Vec<StreamInfo>,
    pub monitor: Monitor,
    pub ledger: Ledger,
    /// [µs] each stream's turnaround target (completion service level).
    pub turnaround: Vec<u64>,
    /// Each stream's name and task type, shared by its records.
    names: Vec<(Arc<str>, Arc<str>)>,
    /// Records kept in memory (tests, small tools), sorted by task at the end.
    pub records: Vec<TaskRecord>,
    pub keep_records: bool,
    /// Records streamed as tasks settle (tasks.csv), unfinished ones in task order at the end.
    pub record_sink: Option<Box<dyn RecordSink>>,
    /// The first error of the record sink.
    pub record_error: Option<String>,
    pub trace: Option<Trace>,
    /// Re-aggregate at the end with this batch algorithm: (task, annotator, label) of counted
    /// final tasks, and their truths. Memory grows with every answer behind a counted final
    /// label: kept only when `quality.batch_aggregation` asks for it.
    pub batch: Option<crate::quality::aggregation::Method>,
    pub batch_answers: Vec<(u32, u32, u32)>,
    pub batch_truth: Vec<u32>,
    annotators: usize,
    pending: IdTable<Pending>,
    /// What each annotator is doing now.
    doing: Vec<WorkKind>,
    /// Figures per workflow stage.
    pub stages: crate::metrics::stages::StageBook,
    /// Counters of the bias tests.
    pub bias: super::bias::BiasBook,
    /// Some stream is a preference pair (position bias is counted).
    any_pairs: bool,
    /// Figures per fixed period, when the run asks for them (a forecast's weeks).
    pub periods: Option<crate::metrics::periods::Periods>,
    /// Figures per model, by model index, and their names (for the trace).
    pub models: Vec<crate::metrics::models::ModelBook>,
    pub model_names: Vec<String>,
}

impl Books {
    pub fn new(streams: Vec<StreamInfo>, turnaround: Vec<u64>, monitor: Monitor, ledger: Ledger, annotators: usize, keep_records: bool, batch: Option<crate::quality::aggregation::Method>) -> Books {
        Books {
            any_pairs: streams.iter().any(StreamInfo::pairwise),
            names: streams.iter().map(|s| (Arc::from(s.name.as_str()), Arc::from(s.task_type.as_str()))).collect(),
            streams,
            turnaround,
            monitor,
            ledger,
            records: Vec::new(),
            keep_records,
            record_sink: None,
            record_error: None,
            trace: None,
            batch,
            batch_answers: Vec::new(),
            batch_truth: Vec::new(),
            annotators,
            pending: IdTable::default(),
            doing: vec![WorkKind::Labeling; annotators],
            stages: Default::default(),
            bias: super::bias::BiasBook::new(annotators),
            periods: None,
            models: Vec::new(),
            model_names: Vec::new(),
        }
    }

    /// Model `model` started a retrain on `labels` labels for `usd` (`ready` = false), or the
    /// retrained model, right with probability `accuracy`, serves from now on (`ready`).
    pub fn retrained(&mut self, model: u16, labels: u64, accuracy: f32, usd: f64, ready: bool, now: SimTime) {
        let in_window = self.monitor.in_window(now);
        if let Some(t) = &mut self.trace {
            let name = self.model_names.get(model as usize).map(String::as_str);
            let accuracy = ready.then_some(accuracy);
            let ev = TraceEvent { model: name, labels: Some(labels), accuracy, ..TraceEvent::at(t.epoch, now, t.replication, if ready { "model_ready" } else { "retrain" }) };
            write_line(&mut *t.sink, &mut t.line, &mut t.error, &ev);
        }
        let Some(b) = self.models.get_mut(model as usize) else { return };
        if ready {
            b.serving(accuracy as f64, labels);
            if in_window && b.reaches_target(accuracy as f64) {
                let work_h = self.monitor.busy_us.iter().sum::<u64>() as f64 / 3.6e9;
                let usd = self.ledger.productive_usd(&self.monitor.busy_us);
                b.target_reached([labels as f64, work_h, usd, now.since(self.monitor.window_start).hours()]);
            }
            return;
        }
        b.retrain_started(in_window, usd);
        if let Some(pr) = &mut self.periods {
            pr.model_paid(now, usd);
        }
        if in_window {
            self.ledger.model_usd += usd;
        }
    }

    /// Registers the hidden side of a task about to arrive.
    pub fn hide(&mut self, task: TaskId, stream: u16, hidden: Hidden, now: SimTime) {
        self.pending.insert(
            task.0,
            Pending {
                hidden,
                stream,
                arrival: now,
                counted: self.monitor.in_window(now),
                first_start: None,
                abandonments: 0,
                reworks: 0,
                reopened: 0,
                reopened_gap: 0,
                labor_cost: 0.0,
                fin: None,
                stage: None,
            },
        );
    }

    /// The hidden side of a task not yet settled.
    pub fn hidden(&self, task: TaskId) -> Option<(u16, Hidden)> {
        self.pending.get(task.0).map(|p| (p.stream, p.hidden))
    }

    /// Reads one effect of the core at time `now`.
    #[inline(always)]
    pub fn consume(&mut self, e: &Effect, now: SimTime) {
        if self.trace.is_some() {
            // Before the books change: a settled task's stream is still known.
            self.write_trace(e, now);
        }
        let in_window = self.monitor.in_window(now);
        match *e {
            Effect::Arrived { task, stream } => {
                if let Some(pr) = &mut self.periods {
                    pr.arrival(now);
                }
                if self.pending.get(task.0).is_some_and(|p| p.counted) {
                    self.monitor.arrivals += 1;
                    self.monitor.by_stream[stream as usize].arrivals += 1;
                }
                self.monitor.series.arrival(now);
                self.monitor.stream_count(stream, now, true);
            }
            Effect::ModelPaid { usd, .. } => {
                if let Some(pr) = &mut self.periods {
                    pr.model_paid(now, usd);
                }
                if in_window {
                    self.ledger.model_usd += usd;
                }
            }
            Effect::Assign { annotator, work, stage, .. } => {
                if let Some(p) = work.task().and_then(|t| self.pending.get_mut(t.0)) {
                    if p.first_start.is_none() {
                        p.first_start = Some(now);
                        if p.counted {
                            self.monitor.first_start(p.stream, now.since(p.arrival));
                        }
                    }
                }
                self.doing[annotator as usize] = work.kind();
                if let Some(pr) = &mut self.periods {
                    pr.lease_start(annotator, now);
                }
                self.monitor.busy(annotator, now);
                self.stages.work(annotator, (stage != u16::MAX).then_some(stage), now);
            }
            Effect::StageEntered { task, stage } => {
                if let Some(p) = self.pending.get_mut(task.0) {
                    if let Some((s, since)) = p.stage.replace((stage, now)) {
                        self.stages.leave(s, since, now);
                    }
                    self.stages.enter(stage, now);
                }
            }
            Effect::LeaseClosed { annotator, kind, task, how, late, .. } => {
                if !late {
                    self.monitor.idle(annotator, now, kind, how != crate::core::Closed::Answered);
                    self.stages.done(annotator, now);
                    if self.periods.is_some() {
                        let ttype = self.task_type(task);
                        if let Some(pr) = &mut self.periods {
                            pr.lease_end(annotator, now, ttype);
                        }
                    }
                }
                if how == crate::core::Closed::Expired {
                    if let Some(p) = task.and_then(|t| self.pending.get_mut(t.0)) {
                        p.abandonments = p.abandonments.saturating_add(1);
                        if p.counted {
                            self.monitor.walkaways += 1;
                        }
                    }
                }
            }
            Effect::Paid { annotator, kind, usd, task } => {
                if self.periods.is_some() {
                    let ttype = self.task_type(task);
                    if let Some(pr) = &mut self.periods {
                        pr.item_paid(now, usd, ttype);
                    }
                }
                if in_window {
                    self.ledger.item(annotator, kind, usd);
                    if let Some(p) = task.and_then(|t| self.pending.get_mut(t.0)) {
                        p.labor_cost += usd;
                    }
                }
            }
            Effect::LabelStored { task, assignment, annotator, label, fate, .. } => {
                if in_window && fate == LabelFate::Counted {
                    self.monitor.labels += 1;
                }
                if in_window && self.any_pairs && self.pending.get(task.0).is_some_and(|p| self.streams[p.stream as usize].pairwise()) {
                    self.bias.pick(annotator, crate::quality::bias::picked_left(assignment.0, label));
                }
            }
            Effect::GoldChecked { assignment, annotator, stream, label, expected, .. } => {
                self.monitor.gold_answers += in_window as u64;
                self.bias.gold(annotator, stream, self.streams[stream as usize].classes, expected, label, in_window);
                if in_window && self.streams[stream as usize].pairwise() {
                    self.bias.pick(annotator, crate::quality::bias::picked_left(assignment.0, label));
                }
            }
            Effect::Reviewed { task, applied: true, .. } => {
                if self.pending.get(task.0).is_some_and(|p| p.counted) {
                    self.monitor.reviews += 1;
                }
            }
            Effect::Rework { task } => {
                if let Some(p) = self.pending.get_mut(task.0) {
                    p.reworks = p.reworks.saturating_add(1);
                    if p.counted {
                        self.monitor.reworks += 1;
                    }
                }
            }
            Effect::Final { task, label, confidence, ref labels } => {
                if let Some(p) = self.pending.get_mut(task.0) {
                    if let Some((s, since)) = p.stage.take() {
                        self.stages.leave(s, since, now);
                    }
                    if p.first_start.is_none() {
                        // Final without people (a model's pre-label accepted): its service, the
                        // model's, started when it arrived.
                        p.first_start = Some(p.arrival);
                        if p.counted {
                            self.monitor.first_start(p.stream, Dur(0));
                        }
                    }
                    self.monitor.stream_count(p.stream, now, false);
                    if in_window {
                        self.monitor.finals_in_window += 1;
                        self.monitor.by_stream[p.stream as usize].finals_in_window += 1;
                    }
                    self.monitor.series.final_label(now);
                    self.bias.final_label(p.stream, self.streams[p.stream as usize].classes, labels, in_window);
                    let kept = if self.batch.is_some() { labels.clone() } else { SmallVec::new() };
                    p.fin = Some(FinalInfo { at: now, label, confidence, used: labels.len() as u16, labels: kept });
                }
            }
            Effect::Settled { task } => self.settle(task),
            Effect::LeftUnserved { task, stream } => {
                if let Some(p) = self.pending.remove(task.0) {
                    if let Some((s, since)) = p.stage {
                        self.stages.leave(s, since, now);
                    }
                    self.monitor.stream_count(stream, now, false);
                    let had_deadline = self.streams[stream as usize].deadline.is_some();
                    if p.counted {
                        self.monitor.left_unserved(stream, now.since(p.arrival), had_deadline);
                    }
                    if self.keep_records || self.record_sink.is_some() {
                        let mut r = self.record(task, &p, None, 0, had_deadline);
                        r.left_at = Some(now);
                        r.time_in_system = Some(now.since(p.arrival));
                        self.emit(r);
                    }
                }
            }
            Effect::Reopened { task, final_at } => {
                if let Some(p) = self.pending.get_mut(task.0) {
                    p.reopened = p.reopened.saturating_add(1);
                    p.reopened_gap += now.since(final_at).0;
                    p.fin = None;
                    if in_window {
                        self.monitor.reopened += 1;
                        let was = self.monitor.in_window(final_at) as u64;
                        self.monitor.finals_in_window -= was;
                        self.monitor.by_stream[p.stream as usize].finals_in_window -= was;
                    }
                    self.monitor.stream_count(p.stream, now, true);
                }
            }
            Effect::Banned { .. } => self.monitor.bans += in_window as u64,
            Effect::OnShift { annotator } => {
                self.monitor.on_shift(annotator, now);
                if let Some(pr) = &mut self.periods {
                    pr.on_shift(annotator, now);
                }
            }
            Effect::OffShift { annotator } => {
                self.monitor.off_shift(annotator, now);
                if let Some(pr) = &mut self.periods {
                    pr.off_shift(annotator, now);
                }
            }
            Effect::PreLabelled { task, label, confidence } => {
                if in_window {
                    if let Some(p) = self.pending.get(task.0) {
                        if let Some(b) = self.streams[p.stream as usize].model.and_then(|m| self.models.get_mut(m as usize)) {
                            b.prelabel(confidence, label == p.hidden.truth);
                        }
                    }
                }
            }
            Effect::PreAnnotate { .. }
            | Effect::Schedule { .. }
            | Effect::Reviewed { .. }
            | Effect::ReviewRequested { .. }
            | Effect::Unbanned { .. }
            | Effect::TrustChanged { .. }
            | Effect::Duplicate { .. }
            | Effect::Rejected { .. } => {}
        }
    }

    /// Counts a final task in the statistics and records it.
    #[inline(never)]
    fn settle(&mut self, task: TaskId) {
        let Some(p) = self.pending.remove(task.0) else {
            return;
        };
        let Some(fin) = &p.fin else { return };
        let info = &self.streams[p.stream as usize];
        let truth = p.hidden.truth;
        let correct = fin.label == truth;
        let deadline = info.deadline.map(|d| p.arrival.plus(Dur(d)));
        let missed = deadline.is_some_and(|d| fin.at > d);
        if let Some(pr) = &mut self.periods {
            pr.final_label(fin.at, info.ttype, correct, deadline.map(|_| !missed));
        }
        if p.counted {
            let m = &mut self.monitor;
            let tis = fin.at.since(p.arrival);
            m.completions += 1;
            m.correct += correct as u64;
            m.deadline_misses += missed as u64;
            m.final_labels_used += fin.used as u64;
            let ty = &mut m.by_type[info.ttype as usize];
            ty.0 += correct as u64;
            ty.1 += 1;
            let st = &mut m.by_stream[p.stream as usize];
            st.completions += 1;
            st.correct += correct as u64;
            st.labels_used += fin.used as u64;
            st.deadline_misses += missed as u64;
            st.tis.add(tis.secs());
            st.turnaround_known += 1;
            st.turnaround_met += (tis.0 <= self.turnaround[p.stream as usize]) as u64;
            if self.batch.is_some() && !fin.labels.is_empty() {
                let id = self.batch_truth.len() as u32;
                self.batch_truth.push(truth as u32);
                self.batch_answers.extend(fin.labels.iter().map(|&(a, l)| (id, a, l as u32)));
            }
        }
        if self.keep_records || self.record_sink.is_some() {
            let r = self.record(task, &p, Some(fin), fin.used, missed);
            self.emit(r);
        }
    }

    /// The task type of a task not settled yet (None for no task, e.g. a golden item).
    fn task_type(&self, task: Option<TaskId>) -> Option<u16> {
        task.and_then(|t| self.pending.get(t.0)).map(|p| self.streams[p.stream as usize].ttype)
    }

    /// Hands a record to whoever keeps records.
    fn emit(&mut self, r: TaskRecord) {
        if let Some(sink) = &mut self.record_sink {
            if self.record_error.is_none() {
                if let Err(e) = sink.record(&r) {
                    self.record_error = Some(e);
                }
            }
        }
        if self.keep_records {
            self.records.push(r);
        }
    }

    fn record(&self, task: TaskId, p: &Pending, fin: Option<&FinalInfo>, labels: u16, missed: bool) -> TaskRecord {
        let info = &self.streams[p.stream as usize];
        let arrival = p.arrival;
        TaskRecord {
            task: task.0,
            stream: self.names[p.stream as usize].0.clone(),
            task_type: self.names[p.stream as usize].1.clone(),
            priority: info.priority,
            arrival,
            first_start: p.first_start,
            final_at: fin.map(|f| f.at),
            wait: p.first_start.map(|s| s.since(arrival)),
            time_in_system: fin.map(|f| f.at.since(arrival)),
            labels,
            walkaways: p.abandonments,
            reworks: p.reworks,
            reopened: p.reopened,
            reopened_gap: Dur(p.reopened_gap),
            final_label: fin.map(|f| f.label),
            confidence: fin.map(|f| f.confidence),
            true_label: p.hidden.truth,
            correct: fin.map(|f| f.label == p.hidden.truth),
            deadline: info.deadline.map(|d| arrival.plus(Dur(d))),
            deadline_missed: missed,
            item_cost_usd: p.labor_cost,
            counted: p.counted,
            left_at: None,
        }
    }

    /// Ends the run at `end` (after the core's `settle_all` effects were consumed): closes open
    /// intervals, counts the tasks still open (censored at `end`: waits and ages so far,
    /// deadlines and turnaround targets already missed), and records them in task order.
    pub fn finish(&mut self, core: &Core, end: SimTime) {
        for a in 0..self.annotators as u32 {
            self.monitor.idle(a, end, self.doing[a as usize], false);
        }
        self.monitor.close(end);
        self.monitor.levels(end, core.queue_len(), core.live_tasks());
        self.stages.close(end);
        for (_, p) in self.pending.iter() {
            if let Some((s, since)) = p.stage {
                self.stages.still_in(s, since, end);
            }
        }
        let mut open: Vec<TaskId> = self.pending.iter().filter(|(_, p)| p.fin.is_none()).map(|(t, _)| TaskId(t)).collect();
        open.sort_unstable();
        for task in open {
            let Some(p) = self.pending.get(task.0) else { continue };
            let deadline = self.streams[p.stream as usize].deadline.map(|d| p.arrival.plus(Dur(d)));
            let missed = deadline.is_some_and(|d| end > d);
            if p.counted {
                let m = &mut self.monitor;
                let age = end.since(p.arrival);
                if p.first_start.is_none() {
                    m.never_started(p.stream, age);
                }
                m.open_ages.add(age.secs());
                m.deadline_misses += missed as u64;
                let st = &mut m.by_stream[p.stream as usize];
                st.unfinished += 1;
                st.deadline_misses += missed as u64;
                st.turnaround_known += (age.0 > self.turnaround[p.stream as usize]) as u64;
            }
            if self.keep_records || self.record_sink.is_some() {
                let labels = core.counted_labels(task).unwrap_or(0) as u16;
                let r = self.record(task, p, None, labels, missed);
                self.emit(r);
            }
        }
        self.records.sort_by_key(|r| r.task);
        if let Some(sink) = &mut self.record_sink {
            if let Err(e) = sink.finish() {
                self.record_error.get_or_insert(e);
            }
        }
        if let Some(t) = &mut self.trace {
            if let Err(e) = t.sink.finish() {
                t.error.get_or_insert(e);
            }
        }
    }

    /// Accuracy of the batch algorithm over every answer behind the counted final labels.
    pub fn batch_accuracy(&self) -> Option<f64> {
        let method = self.batch?;
        let classes = self.streams.iter().map(|s| s.classes as usize).max().unwrap_or(2);
        let (task, rest): (Vec<u32>, Vec<(u32, u32)>) = self.batch_answers.iter().map(|&(t, a, l)| (t, (a, l))).unzip();
        let (worker, label): (Vec<u32>, Vec<u32>) = rest.into_iter().unzip();
        let answers = crate::quality::aggregation::Answers::new(self.batch_truth.len(), self.annotators, classes, task, worker, label).ok()?;
        let fit = method.aggregator().fit(&answers, None).ok()?;
        let truth: Vec<Option<u32>> = self.batch_truth.iter().map(|&t| Some(t)).collect();
        fit.accuracy(&truth)
    }

    #[inline(never)]
    fn write_trace(&mut self, e: &Effect, now: SimTime) {
        let Some(t) = &mut self.trace else { return };
        if t.error.is_some() {
            return;
        }
        let Some(ev) = TraceEvent::from_effect(e, t.epoch, now, t.replication, &t.annotators, &self.streams, |task| self.pending.get(task.0).map(|p| p.stream)) else {
            return;
        };
        write_line(&mut *t.sink, &mut t.line, &mut t.error, &ev);
    }
}
