//! Webhook delivery from the durable outbox. A final label (or a change to one) puts a message
//! in the outbox in the same transaction as the decision; this thread claims due messages (by
//! pushing their next attempt past a visibility timeout, so a crash means redelivery, never
//! loss), POSTs each to the task's callback URL in the Standard Webhooks format, and records the
//! attempt. Retries follow a schedule (Svix's by default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h,
//! 10 h, about 28 hours in all) with ±20% jitter; when it runs out the message is `exhausted`
//! and can be redelivered by hand.
//!
//! Signature: `webhook-id` (the message id), `webhook-timestamp` (seconds, fresh per attempt)
//! and `webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, keyed with the
//! project's secret (the bytes after `whsec_`).

use crate::clock::Clock;
use crate::error::ApiError;
use crate::ops::{Op, Reply};
use crate::store::Store;
use crate::store::Row;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default retry schedule [s]: the delay before attempt 2, 3, ...
pub const SVIX_SCHEDULE: [f64; 7] = [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0];

pub fn message_id(id: i64) -> String {
    format!("msg_{id}")
}

/// An RFC 3339 UTC timestamp of µs since the Unix epoch.
pub fn rfc3339(us: u64) -> String {
    let secs = (us / 1_000_000) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z", rem / 3600, rem % 3600 / 60, rem % 60, us % 1_000_000)
}

/// The `webhook-signature` header value.
pub fn sign(secret: &str, id: &str, timestamp: u64, body: &str) -> String {
    let key = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(key).unwrap_or_else(|_| key.as_bytes().to_vec());
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

/// How delivery behaves.
#[derive(Clone, Debug)]
pub struct DeliveryConfig {
    /// [s] delays before each retry; the number of attempts is one more than its length.
    pub schedule: Vec<f64>,
    /// [s] how long a claimed message stays hidden from other claims.
    pub visibility: f64,
    /// [s] per-attempt timeout.
    pub timeout: f64,
    /// [s] how often to look for due messages when idle.
    pub poll: f64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig { schedule: SVIX_SCHEDULE.to_vec(), visibility: 60.0, timeout: 15.0, poll: 0.5 }
    }
}

/// Parses a schedule like "5s,5m,30m,2h" (units s, m, h; a bare number is seconds).
pub fn parse_schedule(text: &str) -> Result<Vec<f64>, String> {
    text.split(',')
        .map(|x| {
            let x = x.trim();
            let (num, mult) = if let Some(n) = x.strip_suffix("ms") {
                (n, 0.001)
            } else if let Some(n) = x.strip_suffix('s') {
                (n, 1.0)
            } else if let Some(n) = x.strip_suffix('m') {
                (n, 60.0)
            } else if let Some(n) = x.strip_suffix('h') {
                (n, 3600.0)
            } else {
                (x, 1.0)
            };
            let v: f64 = num.parse().map_err(|_| format!("{x:?} is not a duration (e.g. 5s, 5m, 2h)"))?;
            if !(v.is_finite() && v >= 0.0) {
                return Err(format!("{x:?} is not a duration"));
            }
            Ok(v * mult)
        })
        .collect()
}

/// The body of a `label.final` / `label.updated` message (`votes` and `posteriors` as stored JSON).
#[allow(clippy::too_many_arguments)]
pub fn final_body(event_type: &str, at_us: u64, task: i64, project: i64, unique_id: Option<&str>, label: u16, confidence: f32, votes: &str, posteriors: &str, finals: u32) -> String {
    serde_json::json!({
        "type": event_type,
        "timestamp": rfc3339(at_us),
        "data": { "task_id": task, "project_id": project, "unique_id": unique_id, "label": label, "confidence": confidence, "votes": serde_json::from_str::<serde_json::Value>(votes).unwrap_or_default(), "posteriors": serde_json::from_str::<serde_json::Value>(posteriors).unwrap_or_default(), "finals": finals }
    })
    .to_string()
}

/// Runs delivery until `stop` is set.
pub fn run(store: Arc<Store>, clock: Arc<dyn Clock>, cfg: DeliveryConfig, stop: Arc<AtomicBool>) {
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs_f64(cfg.timeout)).redirects(0).build();
    let mut rng = rand::rng();
    while !stop.load(Ordering::Relaxed) {
        let claimed = match store.write_blocking(Op::Claim { limit: 64, visibility_us: (cfg.visibility * 1e6) as u64 }) {
            Ok(Reply::Claimed(m)) => m,
            Ok(_) => Vec::new(),
            Err(e) => {
                tracing::warn!(error = %e.body.message, "cannot claim webhook messages");
                Vec::new()
            }
        };
        if claimed.is_empty() {
            std::thread::sleep(Duration::from_secs_f64(cfg.poll));
            continue;
        }
        for m in claimed {
            let id = message_id(m.id);
            let now = clock.now_us();
            // Receivers check the signature's timestamp against their own wall clock.
            let ts = clock.wall_us() / 1_000_000;
            let started = Instant::now();
            let result = agent
                .post(&m.url)
                .set("content-type", "application/json")
                .set("webhook-id", &id)
                .set("webhook-timestamp", &ts.to_string())
                .set("webhook-signature", &sign(&m.secret, &id, ts, &m.body))
                .send_string(&m.body);
            let duration_ms = started.elapsed().as_millis() as u64;
            let (status, error, ok) = match result {
                Ok(r) => (Some(r.status()), None, (200..300).contains(&r.status())),
                Err(ureq::Error::Status(code, _)) => (Some(code), Some(format!("HTTP {code}")), false),
                Err(e) => (None, Some(e.to_string()), false),
            };
            let attempt = m.attempts as usize;
            let next_us = if ok {
                None
            } else {
                cfg.schedule.get(attempt).map(|d| {
                    let jitter = if *d > 0.0 { rng.random_range(0.8..1.2) } else { 1.0 };
                    // The schedule is in wall-clock seconds (a rehearsal's clock runs at its rate).
                    clock.now_us() + (d * jitter * 1e6 * clock.rate()) as u64
                })
            };
            if !ok {
                tracing::info!(message = %id, url = %m.url, ?status, error = error.as_deref().unwrap_or(""), attempt = attempt + 1, "webhook delivery failed");
            }
            let row = Row::Attempt { message: m.id, at_us: now, status, error, duration_ms, next_us, delivered: ok };
            if let Err(e) = store.write_blocking(Op::Attempt(row)) {
                let e: ApiError = e;
                tracing::warn!(error = %e.body.message, "cannot record a webhook attempt (the message will be retried)");
            }
        }
    }
}
