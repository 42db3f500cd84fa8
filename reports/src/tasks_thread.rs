//! tasks.csv rows built on their own thread. The simulation hands each record over in batches
//! (a copy, no formatting) through a bounded channel; a formatter thread puts the rows in task
//! order and writes them ([`TasksPart`], the same bytes as on the simulation's thread).
//!
//! A record's stream and task type are shared strings (`Arc<str>`) whose reference counts the
//! simulation changes with every record; the formatter never touches them. The simulation side
//! maps each name's address to a small index and sends a copy of each new name once; the
//! formatter writes from its own copies, and hands every batch back to the simulation's thread,
//! which drops the records there. So the two threads share no cache line per record.

use crate::files::TasksPart;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use tessera_engine::run::record::{RecordSink, TaskRecord};

/// Records per batch handed to the formatter.
const BATCH: usize = 2048;
/// Batches queued for the formatter at most (memory stays bounded).
const IN_FLIGHT: usize = 4;

/// A record with the indices of its stream and task type names.
type Item = (TaskRecord, u16, u16);

/// Bytes tasks.csv holds between its threads at most, whatever their timing: the batch being
/// filled, those queued, the one being formatted and those handed back (records still inside),
/// and the file writer's chunks. A run's peak memory may differ by this much from another run
/// of the same simulation.
pub const HELD_AT_MOST_BYTES: usize =
    (1 + IN_FLIGHT + 1 + IN_FLIGHT + 2) * BATCH * std::mem::size_of::<Item>() + crate::background::HELD_AT_MOST_BYTES;

struct Batch {
    /// Names first seen in this batch, in index order.
    names: Vec<String>,
    items: Vec<Item>,
}

/// A tasks.csv part built on a formatter thread (see the module doc).
pub struct TasksOnThread {
    /// Names seen, kept alive so that their addresses stay theirs, with their indices.
    known: Vec<(Arc<str>, u16)>,
    new_names: Vec<String>,
    items: Vec<Item>,
    tx: Option<SyncSender<Batch>>,
    /// Batches the formatter is done with, records still inside (dropped here).
    back: Receiver<Vec<Item>>,
    worker: Option<JoinHandle<Result<(), String>>>,
}

impl TasksOnThread {
    /// Starts the formatter thread over `part`.
    pub fn new(mut part: TasksPart) -> Result<TasksOnThread, String> {
        let (tx, rx) = sync_channel::<Batch>(IN_FLIGHT);
        let (back_tx, back) = sync_channel::<Vec<Item>>(IN_FLIGHT + 2);
        let worker = std::thread::Builder::new()
            .name("tasks.csv rows".into())
            .spawn(move || -> Result<(), String> {
                let mut names: Vec<String> = Vec::new();
                for batch in rx {
                    names.extend(batch.names);
                    for (r, s, t) in &batch.items {
                        part.record_named(r, &names[*s as usize], &names[*t as usize])?;
                    }
                    // Back to the simulation's thread, which drops the records (their shared
                    // names' counts are its own); dropped here only when it lags.
                    let _ = back_tx.try_send(batch.items);
                }
                part.finish_part()
            })
            .map_err(|e| format!("cannot start the tasks.csv formatter: {e}"))?;
        Ok(TasksOnThread { known: Vec::new(), new_names: Vec::new(), items: Vec::with_capacity(BATCH), tx: Some(tx), back, worker: Some(worker) })
    }

    /// The index of `name` (by address: the engine shares one `Arc` per stream and task type).
    #[inline]
    fn index(&mut self, name: &Arc<str>) -> Result<u16, String> {
        if let Some((_, i)) = self.known.iter().find(|(k, _)| Arc::ptr_eq(k, name)) {
            return Ok(*i);
        }
        if self.known.len() >= u16::MAX as usize {
            return Err("tasks.csv: more than 65,535 stream and task type names".into());
        }
        let i = self.known.len() as u16;
        self.known.push((name.clone(), i));
        self.new_names.push(name.to_string());
        Ok(i)
    }

    /// Closes the channel and waits for the formatter: its result (a panic as an error; Ok when
    /// it was joined before).
    fn join(&mut self) -> Result<(), String> {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err("the tasks.csv formatter panicked".into()),
            None => Ok(()),
        }
    }

    /// The formatter's error after it stopped early.
    fn stopped(&mut self) -> String {
        self.join().err().unwrap_or_else(|| "the tasks.csv formatter stopped".into())
    }

    fn send(&mut self) -> Result<(), String> {
        if self.items.is_empty() && self.new_names.is_empty() {
            return Ok(());
        }
        let next = match self.back.try_recv() {
            Ok(mut used) => {
                used.clear();
                used
            }
            Err(_) => Vec::with_capacity(BATCH),
        };
        let batch = Batch { names: std::mem::take(&mut self.new_names), items: std::mem::replace(&mut self.items, next) };
        let Some(tx) = &self.tx else { return Err("tasks.csv is closed".into()) };
        if tx.send(batch).is_err() {
            return Err(self.stopped());
        }
        Ok(())
    }
}

impl RecordSink for TasksOnThread {
    fn record(&mut self, r: &TaskRecord) -> Result<(), String> {
        let s = self.index(&r.stream)?;
        let t = self.index(&r.task_type)?;
        self.items.push((r.clone(), s, t));
        if self.items.len() >= BATCH {
            self.send()?;
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), String> {
        if self.tx.is_none() {
            return Ok(());
        }
        self.send()?;
        let result = self.join();
        while self.back.try_recv().is_ok() {}
        result
    }
}

impl Drop for TasksOnThread {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
