//! Message queues between the data pipeline and the server: tasks in, final labels out. The
//! server sees two small traits; NATS JetStream implements them ([`nats`]); [`pump`] runs them
//! against the store.
//!
//! What the traits promise, and what a Kafka implementation would need to keep them honest:
//!
//! - **Tasks in ([`TaskQueue`])**: messages are handed out with a position (JetStream's stream
//!   sequence; Kafka's partition offset) and settled only after the tasks they carry are
//!   committed to the store. An unsettled message comes back (JetStream redelivers after
//!   `ack_wait`; Kafka restarts from the last committed offset, so an implementation commits
//!   offsets only up to the lowest unsettled one per partition). Redelivery is harmless because
//!   every task is created under a unique id: the task's own `unique_id`, else the message id
//!   (`Nats-Msg-Id`; for Kafka, the record key), else the stream and position, and the store
//!   refuses a second task with the same unique id forever (beyond any broker's window).
//!   Ordering: tasks of one project are created in the order fetched; JetStream keeps the
//!   stream's order; Kafka keeps order per partition, so key records by project.
//! - **Labels out ([`LabelQueue`])**: every final label (and every later change a review or a
//!   re-open makes) is published with a message id, `tessera-label-{task}-{n}` for the task's
//!   n-th final label, and marked published only after the broker acknowledged it. A crash in
//!   between publishes again with the same id: JetStream drops the copy inside its duplicate
//!   window (configured on the stream, 2 minutes by default); beyond it, and for Kafka
//!   (idempotent producers deduplicate only within a producer session), consumers deduplicate by
//!   the message id, which never changes. Labels of one task are published in order.

pub mod nats;
pub mod pump;

use std::time::Duration;

/// A message carrying one task.
#[derive(Debug)]
pub struct Incoming {
    /// The subject (Kafka: topic) it came on; its last token names the project.
    pub subject: String,
    /// The publisher's message id (`Nats-Msg-Id`; Kafka: the record key), if any.
    pub msg_id: Option<String>,
    /// Where it sits in its stream (JetStream: stream sequence; Kafka: offset).
    pub position: u64,
    /// How many times it was delivered (1 the first time).
    pub delivered: u64,
    pub payload: Vec<u8>,
    /// The implementation's handle for settling it.
    pub token: u64,
}

/// How a fetched message is settled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Settle {
    /// Its task is in the store (created now or before): never deliver it again.
    Done,
    /// The store could not take it now: deliver it again after the delay.
    Retry(Duration),
    /// It can never become a task (not JSON, a field out of range, no such project): stop
    /// delivering it. It stays in the stream for people to look at; the server logs why.
    Reject,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct QueueError(pub String);

/// Where tasks come from.
pub trait TaskQueue: Send {
    /// Up to `max` messages, waiting at most `wait` for the first.
    fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Incoming>, QueueError>;
    fn settle(&mut self, token: u64, how: Settle) -> Result<(), QueueError>;
}

/// Where final labels go.
pub trait LabelQueue: Send {
    /// Publishes `body` on `subject` with `msg_id`; returns once the broker has it durably.
    /// `Ok(true)`: the broker had it already (a duplicate it dropped).
    fn publish(&mut self, subject: &str, msg_id: &str, body: &[u8]) -> Result<bool, QueueError>;
}
