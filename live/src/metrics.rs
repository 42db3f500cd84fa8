//! `/metrics` in the Prometheus text format: queue length and live tasks per project, open
//! leases, request latency histograms per route, group-commit batch sizes and commit latency,
//! the webhook backlog, and the drift watches' tests (`tessera serve --drift`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets [s].
const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len() + 1],
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        let i = BUCKETS.iter().position(|b| secs <= *b).unwrap_or(BUCKETS.len());
        self.counts[i] += 1;
        self.sum += secs;
    }
    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cum = 0;
        for (i, b) in BUCKETS.iter().enumerate() {
            cum += self.counts[i];
            let _ = writeln!(out, "{name}_bucket{{{labels}{}le=\"{b}\"}} {cum}", if labels.is_empty() { "" } else { "," });
        }
        cum += self.counts[BUCKETS.len()];
        let _ = writeln!(out, "{name}_bucket{{{labels}{}le=\"+Inf\"}} {cum}", if labels.is_empty() { "" } else { "," });
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {cum}");
    }
}

/// The server's counters and gauges.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), Histogram>>,
    commit: Mutex<Histogram>,
    batches: AtomicU64,
    batched_ops: AtomicU64,
    pub poisoned: AtomicU64,
    /// Task messages from the queue: created, already there (redeliveries), rejected.
    pub queue_created: AtomicU64,
    pub queue_duplicates: AtomicU64,
    pub queue_rejected: AtomicU64,
    /// Final labels published to the queue.
    pub labels_published: AtomicU64,
    /// (project, waiting tasks, live tasks, open leases)
    queues: Mutex<Vec<(i64, usize, usize, usize)>>,
    /// (project, stream name, waiting tasks)
    streams: Mutex<Vec<(i64, String, u32)>>,
    /// Each watched project's drift tests.
    drift: Mutex<BTreeMap<i64, DriftGauges>>,
}

/// A watched project's drift tests as the watch last published them.
#[derive(Clone, Debug, Default)]
pub struct DriftGauges {
    pub tests: Vec<DriftTest>,
    /// [s since the Unix epoch, the operation's clock] the end of the hour being gathered.
    pub hour_end_s: Option<f64>,
    /// The watch stopped on an error (it is in the server's log).
    pub failed: bool,
}

/// One drift test's gauges.
#[derive(Clone, Debug)]
pub struct DriftTest {
    pub metric: &'static str,
    pub key: String,
    pub direction: &'static str,
    pub statistic: f64,
    pub threshold: f64,
    pub delay_p90_h: f64,
    pub alarms: u64,
    /// [s since the Unix epoch, the operation's clock] the end of the hour of the last alarm.
    pub last_alarm_s: Option<f64>,
}

fn label(v: &str) -> String {
    v.replace(['"', '\\', '\n'], "_")
}

impl Metrics {
    pub fn observe_request(&self, route: &str, status: u16, took: Duration) {
        let mut m = self.requests.lock().expect("metrics lock");
        m.entry((route.to_string(), status)).or_default().observe(took.as_secs_f64());
    }
    pub fn observe_batch(&self, ops: usize, took: Duration) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.batched_ops.fetch_add(ops as u64, Ordering::Relaxed);
        self.commit.lock().expect("metrics lock").observe(took.as_secs_f64());
    }
    pub fn set_queues(&self, q: Vec<(i64, usize, usize, usize)>, streams: Vec<(i64, String, u32)>) {
        *self.queues.lock().expect("metrics lock") = q;
        *self.streams.lock().expect("metrics lock") = streams;
    }
    pub fn set_drift(&self, project: i64, gauges: DriftGauges) {
        self.drift.lock().expect("metrics lock").insert(project, gauges);
    }

    /// The text exposition; `webhook_backlog` = messages waiting for delivery.
    pub fn render(&self, webhook_backlog: u64) -> String {
        let mut out = String::new();
        out.push_str("# HELP tessera_queue_tasks Tasks waiting for people, per project.\n# TYPE tessera_queue_tasks gauge\n");
        let q = self.queues.lock().expect("metrics lock").clone();
        for (p, waiting, _, _) in &q {
            let _ = writeln!(out, "tessera_queue_tasks{{project=\"{p}\"}} {waiting}");
        }
        out.push_str("# HELP tessera_queue_stream_tasks Tasks waiting for people, per project and stream.\n# TYPE tessera_queue_stream_tasks gauge\n");
        for (p, stream, waiting) in self.streams.lock().expect("metrics lock").iter() {
            let _ = writeln!(out, "tessera_queue_stream_tasks{{project=\"{p}\",stream=\"{}\"}} {waiting}", label(stream));
        }
        out.push_str("# HELP tessera_live_tasks Tasks not yet final, per project.\n# TYPE tessera_live_tasks gauge\n");
        for (p, _, live, _) in &q {
            let _ = writeln!(out, "tessera_live_tasks{{project=\"{p}\"}} {live}");
        }
        out.push_str("# HELP tessera_open_leases Leases handed out and not yet ended, per project.\n# TYPE tessera_open_leases gauge\n");
        for (p, _, _, leases) in &q {
            let _ = writeln!(out, "tessera_open_leases{{project=\"{p}\"}} {leases}");
        }
        out.push_str("# HELP tessera_webhook_backlog Webhook messages waiting for delivery.\n# TYPE tessera_webhook_backlog gauge\n");
        let _ = writeln!(out, "tessera_webhook_backlog {webhook_backlog}");
        out.push_str("# HELP tessera_commit_batches_total Write transactions committed (group commit).\n# TYPE tessera_commit_batches_total counter\n");
        let _ = writeln!(out, "tessera_commit_batches_total {}", self.batches.load(Ordering::Relaxed));
        out.push_str("# HELP tessera_commit_ops_total Writes carried by those transactions.\n# TYPE tessera_commit_ops_total counter\n");
        let _ = writeln!(out, "tessera_commit_ops_total {}", self.batched_ops.load(Ordering::Relaxed));
        out.push_str("# HELP tessera_poisoned_batches_total Batches rolled back after a store failure.\n# TYPE tessera_poisoned_batches_total counter\n");
        let _ = writeln!(out, "tessera_poisoned_batches_total {}", self.poisoned.load(Ordering::Relaxed));
        out.push_str("# HELP tessera_queue_tasks_total Task messages taken from the queue, by outcome.\n# TYPE tessera_queue_tasks_total counter\n");
        for (outcome, n) in [("created", &self.queue_created), ("duplicate", &self.queue_duplicates), ("rejected", &self.queue_rejected)] {
            let _ = writeln!(out, "tessera_queue_tasks_total{{outcome=\"{outcome}\"}} {}", n.load(Ordering::Relaxed));
        }
        out.push_str("# HELP tessera_labels_published_total Final labels published to the queue.\n# TYPE tessera_labels_published_total counter\n");
        let _ = writeln!(out, "tessera_labels_published_total {}", self.labels_published.load(Ordering::Relaxed));
        let drift = self.drift.lock().expect("metrics lock").clone();
        if !drift.is_empty() {
            let each = |out: &mut String, name: &str, help: &str, kind: &str, value: &dyn Fn(&DriftTest) -> Option<f64>| {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
                for (p, g) in &drift {
                    for t in &g.tests {
                        if let Some(v) = value(t) {
                            let _ = writeln!(out, "{name}{{project=\"{p}\",metric=\"{}\",key=\"{}\",direction=\"{}\"}} {v}", t.metric, label(&t.key), t.direction);
                        }
                    }
                }
            };
            each(&mut out, "tessera_drift_statistic", "A drift test's CUSUM statistic (tessera serve --drift): it alarms when it passes its threshold, then starts again at 0.", "gauge", &|t| Some(t.statistic));
            each(&mut out, "tessera_drift_threshold", "A drift test's threshold: at most one false alarm per metric in the report's false_alarm_days of unchanged operation.", "gauge", &|t| Some(t.threshold));
            each(&mut out, "tessera_drift_delay_p90_hours", "Hours within which a drift test catches the change it looks for with probability 0.9.", "gauge", &|t| Some(t.delay_p90_h));
            each(&mut out, "tessera_drift_alarms_total", "Alarms a drift test raised over the project's whole log (rebuilt from it at start).", "counter", &|t| Some(t.alarms as f64));
            each(&mut out, "tessera_drift_last_alarm_timestamp_seconds", "The end of the hour that raised a drift test's last alarm [s since the Unix epoch, the operation's clock].", "gauge", &|t| t.last_alarm_s);
            out.push_str("# HELP tessera_drift_hour_end_timestamp_seconds The end of the hour a project's drift watch is gathering [s since the Unix epoch, the operation's clock].\n# TYPE tessera_drift_hour_end_timestamp_seconds gauge\n");
            for (p, g) in &drift {
                if let Some(h) = g.hour_end_s {
                    let _ = writeln!(out, "tessera_drift_hour_end_timestamp_seconds{{project=\"{p}\"}} {h}");
                }
            }
            out.push_str("# HELP tessera_drift_watch_failed 1 when a project's drift watch stopped on an error (see the server's log).\n# TYPE tessera_drift_watch_failed gauge\n");
            for (p, g) in &drift {
                let _ = writeln!(out, "tessera_drift_watch_failed{{project=\"{p}\"}} {}", u8::from(g.failed));
            }
        }
        out.push_str("# HELP tessera_commit_seconds Time to run and commit one batch.\n# TYPE tessera_commit_seconds histogram\n");
        self.commit.lock().expect("metrics lock").render(&mut out, "tessera_commit_seconds", "");
        out.push_str("# HELP tessera_request_seconds HTTP request latency by route and status.\n# TYPE tessera_request_seconds histogram\n");
        for ((route, status), h) in self.requests.lock().expect("metrics lock").iter() {
            h.render(&mut out, "tessera_request_seconds", &format!("route=\"{route}\",status=\"{status}\""));
        }
        out
    }
}
