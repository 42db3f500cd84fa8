//! NATS JetStream behind the queue traits. Two streams, created if missing: `TESSERA_TASKS`
//! (subjects `tessera.tasks.<project id>`) read by a durable pull consumer `tessera` with
//! explicit acks, and `TESSERA_LABELS` (subjects `tessera.labels.<project id>`) with a duplicate
//! window. Both are file-backed, so a restarted nats-server still has them. The client
//! reconnects on its own; calls made while it is away fail and are retried by the pump.

use super::{Incoming, LabelQueue, QueueError, Settle, TaskQueue};
use async_nats::jetstream::{self, consumer::pull, AckKind};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::time::Duration;

pub const TASKS_STREAM: &str = "TESSERA_TASKS";
pub const LABELS_STREAM: &str = "TESSERA_LABELS";
pub const TASK_SUBJECTS: &str = "tessera.tasks.>";
pub const LABEL_SUBJECTS: &str = "tessera.labels.>";
pub const CONSUMER: &str = "tessera";
/// How long JetStream drops a second message with the same id on the labels stream.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// A fetched task message not settled in this time is delivered again.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

fn err(e: impl std::fmt::Display) -> QueueError {
    QueueError(e.to_string())
}

/// A connection to NATS, on a small runtime of its own (the server's writer and pumps are
/// plain threads).
pub struct Nats {
    rt: tokio::runtime::Runtime,
    js: jetstream::Context,
    consumer: Option<jetstream::consumer::Consumer<pull::Config>>,
    pending: HashMap<u64, jetstream::Message>,
    next_token: u64,
}

impl Nats {
    /// Connects (waiting for the server if it is not up yet) and makes sure both streams exist.
    pub fn connect(url: &str) -> anyhow::Result<Nats> {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).thread_name("tessera-nats").enable_all().build()?;
        let js = rt.block_on(async {
            let client = async_nats::ConnectOptions::new().retry_on_initial_connect().connection_timeout(Duration::from_secs(5)).name("tessera").connect(url).await?;
            let js = jetstream::new(client);
            js.get_or_create_stream(jetstream::stream::Config { name: TASKS_STREAM.into(), subjects: vec![TASK_SUBJECTS.into()], storage: jetstream::stream::StorageType::File, duplicate_window: DUPLICATE_WINDOW, ..Default::default() }).await?;
            js.get_or_create_stream(jetstream::stream::Config { name: LABELS_STREAM.into(), subjects: vec![LABEL_SUBJECTS.into()], storage: jetstream::stream::StorageType::File, duplicate_window: DUPLICATE_WINDOW, ..Default::default() }).await?;
            Ok::<_, anyhow::Error>(js)
        })?;
        Ok(Nats { rt, js, consumer: None, pending: HashMap::new(), next_token: 0 })
    }

    fn consumer(&mut self) -> Result<jetstream::consumer::Consumer<pull::Config>, QueueError> {
        if let Some(c) = &self.consumer {
            return Ok(c.clone());
        }
        let js = self.js.clone();
        let c = self.rt.block_on(async move {
            let stream = js.get_stream(TASKS_STREAM).await.map_err(err)?;
            stream
                .get_or_create_consumer(CONSUMER, pull::Config { durable_name: Some(CONSUMER.into()), ack_policy: jetstream::consumer::AckPolicy::Explicit, ack_wait: ACK_WAIT, max_ack_pending: 20_000, ..Default::default() })
                .await
                .map_err(err)
        })?;
        self.consumer = Some(c.clone());
        Ok(c)
    }
}

impl Nats {
    /// Deletes both streams, with their messages and the consumer (benchmarks start clean).
    pub fn delete_streams(&self) -> anyhow::Result<()> {
        let js = self.js.clone();
        self.rt.block_on(async move {
            for s in [TASKS_STREAM, LABELS_STREAM] {
                js.delete_stream(s).await?;
            }
            Ok(())
        })
    }

    /// Every message on `stream` under `subject` (a filter such as `tessera.labels.7`), in order,
    /// with its message id: how a consumer downstream reads the labels (and how tests check them).
    pub fn read_all(&self, stream: &str, subject: &str) -> anyhow::Result<Vec<(Option<String>, Vec<u8>)>> {
        let (js, stream, subject) = (self.js.clone(), stream.to_string(), subject.to_string());
        self.rt.block_on(async move {
            let s = js.get_stream(&stream).await?;
            let total = s.get_info().await?.state.messages as usize;
            let consumer = s.create_consumer(pull::Config { filter_subject: subject, ack_policy: jetstream::consumer::AckPolicy::None, inactive_threshold: Duration::from_secs(60), ..Default::default() }).await?;
            let mut out = Vec::new();
            while out.len() < total {
                let mut batch = consumer.fetch().max_messages(1000).expires(Duration::from_millis(500)).messages().await?;
                let before = out.len();
                while let Some(m) = batch.next().await {
                    let m = m.map_err(|e| anyhow::anyhow!(e))?;
                    out.push((m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.as_str().to_string()), m.payload.to_vec()));
                }
                if out.len() == before {
                    break;
                }
            }
            Ok(out)
        })
    }
}

impl TaskQueue for Nats {
    fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Incoming>, QueueError> {
        let consumer = match self.consumer() {
            Ok(c) => c,
            Err(e) => {
                std::thread::sleep(wait.min(Duration::from_secs(1)));
                return Err(e);
            }
        };
        let got: Vec<jetstream::Message> = self.rt.block_on(async move {
            let mut batch = consumer.fetch().max_messages(max).expires(wait).messages().await.map_err(err)?;
            let mut out = Vec::new();
            while let Some(m) = batch.next().await {
                out.push(m.map_err(err)?);
            }
            Ok::<_, QueueError>(out)
        })?;
        let mut out = Vec::with_capacity(got.len());
        for m in got {
            let (position, delivered) = m.info().map(|i| (i.stream_sequence, i.delivered.max(1) as u64)).unwrap_or((0, 1));
            let msg_id = m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id")).map(|v| v.as_str().to_string());
            self.next_token += 1;
            out.push(Incoming { subject: m.subject.to_string(), msg_id, position, delivered, payload: m.payload.to_vec(), token: self.next_token });
            self.pending.insert(self.next_token, m);
        }
        Ok(out)
    }

    fn settle(&mut self, token: u64, how: Settle) -> Result<(), QueueError> {
        let Some(m) = self.pending.remove(&token) else { return Ok(()) };
        let kind = match how {
            Settle::Done => AckKind::Ack,
            Settle::Retry(d) => AckKind::Nak(Some(d)),
            Settle::Reject => AckKind::Term,
        };
        // An ack lost on the way means one more delivery, which the unique id makes harmless.
        self.rt.block_on(async move { m.ack_with(kind).await }).map_err(err)
    }
}

impl LabelQueue for Nats {
    fn publish(&mut self, subject: &str, msg_id: &str, body: &[u8]) -> Result<bool, QueueError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", msg_id);
        let (js, subject, body) = (self.js.clone(), subject.to_string(), body.to_vec());
        self.rt.block_on(async move {
            let ack = js.publish_with_headers(subject, headers, body.into()).await.map_err(err)?;
            let ack = tokio::time::timeout(Duration::from_secs(10), ack).await.map_err(|_| QueueError("no acknowledgement from JetStream within 10 s".into()))?.map_err(err)?;
            Ok(ack.duplicate)
        })
    }
}
