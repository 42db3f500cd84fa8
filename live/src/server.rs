//! `tessera serve`: the store, the writer, webhook delivery and the HTTP server, started and
//! stopped together. On SIGTERM or Ctrl-C the HTTP server stops taking connections and lets
//! requests in flight finish, the writer commits and answers everything queued, delivery stops
//! after its current attempt, and the store checkpoints its WAL.

use crate::auth::Keys;
use crate::clock::Clock;
use crate::http::{routes, App};
use crate::metrics::Metrics;
use crate::webhooks::DeliveryConfig;
use actix_web::{web, HttpServer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A request's path with its ids written as `{id}` (the metrics' route label; cheaper than
/// asking the router again).
fn route_label(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for seg in path.split('/').skip(1) {
        out.push('/');
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push_str("{id}");
        } else if seg.len() > 64 {
            out.push_str("{long}");
        } else {
            out.push_str(seg);
        }
    }
    out
}

/// How to run the server.
pub struct ServeConfig {
    /// A SQLite file, or a PostgreSQL URL (`postgres://...`) that several nodes share.
    pub db: String,
    pub listen: String,
    /// The admin key (creates tenants); None = no admin access.
    pub admin_key: Option<String>,
    pub delivery: DeliveryConfig,
    pub workers: usize,
    pub clock: Arc<dyn Clock>,
    /// A NATS server (`nats://host:port`): tasks come from JetStream too, and final labels are
    /// published to it.
    pub queue: Option<String>,
    /// Drift watches over projects (none by default).
    pub drift: crate::drift::DriftConfig,
    /// The server is a rehearsal's, driven this many times faster than real time (`tessera
    /// loadgen --speedup`): trace headers say so. `tessera serve` then runs `clock` at that pace
    /// (`clock::ScaledClock`), and its times are the scenario's; with a wall clock, readers and
    /// drift watches stretch its times back by it.
    pub rehearsal_speedup: Option<f64>,
}

/// Runs until SIGTERM / Ctrl-C (or `handle.stop`). `ready` is called with the bound address and
/// the server's handle once listening.
pub fn serve(cfg: ServeConfig, ready: impl FnOnce(std::net::SocketAddr, actix_web::dev::ServerHandle)) -> anyhow::Result<()> {
    let keys = Arc::new(Keys::new(cfg.admin_key.as_deref()));
    let metrics = Arc::new(Metrics::default());
    let publish = cfg.queue.is_some();
    let store = if crate::store::postgres::is_url(&cfg.db) {
        crate::store::postgres::open(&cfg.db, cfg.clock.clone(), keys.clone(), metrics.clone(), publish)?
    } else {
        crate::store::sqlite::open(std::path::Path::new(&cfg.db), cfg.clock.clone(), keys.clone(), metrics.clone(), publish)?
    };
    let stop = Arc::new(AtomicBool::new(false));
    let delivery = {
        let (store, clock, stop, d) = (store.clone(), cfg.clock.clone(), stop.clone(), cfg.delivery.clone());
        std::thread::Builder::new().name("tessera-webhooks".into()).spawn(move || crate::webhooks::run(store, clock, d, stop))?
    };
    // The queue's two pumps, each on its own connection (made when NATS is there).
    let mut pumps = Vec::new();
    if let Some(url) = cfg.queue.clone() {
        let (s, m, st, u) = (store.clone(), metrics.clone(), stop.clone(), url.clone());
        pumps.push(std::thread::Builder::new().name("tessera-ingest".into()).spawn(move || {
            if let Some(q) = crate::queue::pump::connect_until("tasks in", &st, || crate::queue::nats::Nats::connect(&u)) {
                crate::queue::pump::ingest(s, Box::new(q), m, st);
            }
        })?);
        let (s, m, st) = (store.clone(), metrics.clone(), stop.clone());
        pumps.push(std::thread::Builder::new().name("tessera-publish".into()).spawn(move || {
            if let Some(q) = crate::queue::pump::connect_until("labels out", &st, || crate::queue::nats::Nats::connect(&url)) {
                crate::queue::pump::publish(s, Box::new(q), m, st);
            }
        })?);
    }
    let watch = if cfg.drift.monitors.is_empty() {
        None
    } else {
        let (s, c, m, st) = (store.clone(), cfg.clock.clone(), metrics.clone(), stop.clone());
        // A clock that runs at the rehearsal's pace needs no stretch (times aligned only).
        let d = crate::drift::DriftConfig { speedup: cfg.rehearsal_speedup.map(|k| k / cfg.clock.rate()), ..cfg.drift.clone() };
        Some(std::thread::Builder::new().name("tessera-drift".into()).spawn(move || crate::drift::run(s, d, c, m, st))?)
    };
    let rehearsal = cfg.rehearsal_speedup.map(|k| crate::trace::Rehearsal { speedup: k, paced: cfg.clock.rate() != 1.0 });
    let app = web::Data::new(App { store: store.clone(), keys, metrics: metrics.clone(), rehearsal });
    let sys = actix_web::rt::System::new();
    let result = sys.block_on(async move {
        let m = metrics.clone();
        let server = HttpServer::new(move || {
            let m = m.clone();
            actix_web::App::new()
                .app_data(app.clone())
                .wrap_fn(move |req, srv| {
                    let started = Instant::now();
                    let route = route_label(req.path());
                    let m = m.clone();
                    let fut = actix_web::dev::Service::call(srv, req);
                    async move {
                        let res = fut.await?;
                        m.observe_request(&route, res.status().as_u16(), started.elapsed());
                        Ok(res)
                    }
                })
                .configure(routes)
        })
        .workers(cfg.workers.max(1))
        .shutdown_timeout(30)
        .bind(&cfg.listen)?;
        let addr = server.addrs().first().copied().ok_or_else(|| anyhow::anyhow!("bound to no address"))?;
        tracing::info!(%addr, db = %crate::store::postgres::redact(&cfg.db), "serving");
        let server = server.run();
        ready(addr, server.handle());
        server.await?;
        Ok::<(), anyhow::Error>(())
    });
    tracing::info!("HTTP server stopped; finishing queued writes");
    stop.store(true, Ordering::Relaxed);
    let _ = delivery.join();
    for p in pumps.into_iter().chain(watch) {
        let _ = p.join();
    }
    store.close();
    tracing::info!("stopped cleanly");
    result
}
