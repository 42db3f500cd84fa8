//! tessera-live: the production dispatch server (wall-clock runtime, durable store, webhooks).
//! Not built yet: a later issue fills it. It will drive the engine's actors through the same
//! `kernel::Context` trait as the simulator.
