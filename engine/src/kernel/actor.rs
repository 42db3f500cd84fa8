//! The actor contract: a plain struct with a handler, and the context it talks to the world through.

use super::ActorRng;
use crate::time::{Dur, SimTime};

/// Index of an actor in its runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ActorId(pub u32);

/// Handle of a delayed message, for cancelling it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(pub u64);

/// What an actor may ask of the runtime that drives it. Implemented by the simulated runtime
/// ([`super::SimCore`]) and by the live wall-clock runtime.
pub trait Context<M> {
    /// The current instant (virtual or wall-clock) [µs].
    fn now(&self) -> SimTime;
    /// The actor being run.
    fn me(&self) -> ActorId;
    /// The running actor's own random stream, seeded from (run seed, actor key).
    fn rng(&mut self) -> &mut ActorRng;
    /// Delivers `msg` to `to` at the current instant, after every message already due now.
    fn send(&mut self, to: ActorId, msg: M);
    /// Delivers `msg` to `to` after `delay`; returns a handle that [`Context::cancel`] accepts.
    fn send_in(&mut self, delay: Dur, to: ActorId, msg: M) -> TimerId;
    /// Cancels a pending delayed message; cancelling a delivered or unknown timer does nothing.
    fn cancel(&mut self, timer: TimerId);
    /// Asks the runtime to stop after the current message.
    fn stop(&mut self);
}

/// An actor: a state machine that reacts to messages of type `M`. `handle` is generic over the
/// context, so the simulated runtime's calls (now, rng, send) are static and inlined; a
/// `&mut dyn Context<M>` is a context too.
pub trait Actor<M> {
    fn handle<C: Context<M> + ?Sized>(&mut self, msg: M, ctx: &mut C);
}

impl<M, A: Actor<M> + ?Sized> Actor<M> for Box<A> {
    fn handle<C: Context<M> + ?Sized>(&mut self, msg: M, ctx: &mut C) {
        (**self).handle(msg, ctx)
    }
}
