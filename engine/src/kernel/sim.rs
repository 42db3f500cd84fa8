//! The simulated runtime: virtual time that jumps from event to event, on one thread.

use super::{stream_rng, Actor, ActorId, ActorRng, Context, EventList, TimerId};
use crate::time::{Dur, SimTime};

/// Everything of the simulated runtime except the actors: the clock, the event list and the
/// per-actor random streams. It is the [`Context`] handed to the actor being run.
pub struct SimCore<M> {
    now: u64,
    events: EventList<M>,
    rngs: Vec<ActorRng>,
    current: u32,
    stop: bool,
    delivered: u64,
}

impl<M> Context<M> for SimCore<M> {
    #[inline]
    fn now(&self) -> SimTime {
        SimTime(self.now)
    }
    #[inline]
    fn me(&self) -> ActorId {
        ActorId(self.current)
    }
    #[inline]
    fn rng(&mut self) -> &mut ActorRng {
        &mut self.rngs[self.current as usize]
    }
    #[inline]
    fn send(&mut self, to: ActorId, msg: M) {
        self.events.push(self.now, self.now, to.0, msg);
    }
    #[inline]
    fn send_in(&mut self, delay: Dur, to: ActorId, msg: M) -> TimerId {
        TimerId(self.events.push(self.now, self.now.saturating_add(delay.0), to.0, msg))
    }
    fn cancel(&mut self, timer: TimerId) {
        self.events.cancel(timer.0);
    }
    fn stop(&mut self) {
        self.stop = true;
    }
}

/// A simulation: actors of type `A` exchanging messages of type `M` in virtual time.
/// A pure function of its actors, their stream keys and the seed.
pub struct Simulation<M, A> {
    pub actors: Vec<A>,
    core: SimCore<M>,
    seed: u64,
}

impl<M, A: Actor<M>> Simulation<M, A> {
    pub fn new(seed: u64) -> Self {
        Self {
            actors: Vec::new(),
            core: SimCore { now: 0, events: EventList::default(), rngs: Vec::new(), current: 0, stop: false, delivered: 0 },
            seed,
        }
    }

    /// Adds an actor whose random stream is keyed by `stream_key` (see [`super::stream_key`]).
    pub fn add(&mut self, actor: A, stream_key: u64) -> ActorId {
        let id = ActorId(self.actors.len() as u32);
        self.actors.push(actor);
        self.core.rngs.push(stream_rng(self.seed, stream_key));
        id
    }

    /// Schedules a message from outside any actor (start-up messages).
    pub fn schedule(&mut self, at: SimTime, to: ActorId, msg: M) -> TimerId {
        TimerId(self.core.events.push(self.core.now, at.0, to.0, msg))
    }

    pub fn now(&self) -> SimTime {
        SimTime(self.core.now)
    }

    /// Messages delivered so far.
    pub fn delivered(&self) -> u64 {
        self.core.delivered
    }

    /// Runs until the event list is empty, an actor calls `stop`, the next event is after `until`,
    /// or `progress` (called every 2^16 events with the current time) returns false.
    pub fn run_until(&mut self, until: SimTime, progress: impl FnMut(SimTime) -> bool) {
        if !self.run_loop(|t| t <= until, progress) {
            self.core.now = until.0.max(self.core.now);
        }
    }

    /// Runs like [`Simulation::run_until`] with no time limit, calling `pace(t)` before each
    /// event at time `t` (a real-time driver sleeps there until the wall clock reaches `t`);
    /// `pace` returning false stops the run with the event still pending.
    pub fn run_paced(&mut self, pace: impl FnMut(SimTime) -> bool) {
        self.run_loop(pace, |_| true);
    }

    /// The event loop: each event is delivered if `admit(its time)`, else put back (with its
    /// original order key) and the loop ends, returning false. Also ends when the list is
    /// empty, an actor calls `stop`, or `progress` (every 2^16 events) returns false.
    /// Always inlined: as a call, the simulation's hot loop ran about 20% slower (mmc,
    /// `benches/core_speed.sh`).
    #[inline(always)]
    fn run_loop(&mut self, mut admit: impl FnMut(SimTime) -> bool, mut progress: impl FnMut(SimTime) -> bool) -> bool {
        let core = &mut self.core;
        core.stop = false;
        loop {
            let Some(e) = core.events.pop() else { return true };
            if !admit(SimTime(e.time)) {
                core.events.push(core.now, e.time, e.to, e.msg);
                return false;
            }
            core.now = e.time;
            core.current = e.to;
            core.delivered += 1;
            self.actors[e.to as usize].handle(e.msg, core);
            if core.stop {
                return true;
            }
            if core.delivered & 0xffff == 0 && !progress(SimTime(core.now)) {
                return true;
            }
        }
    }

    /// The same simulation with each actor replaced by `f(actor)` (same ids, streams and
    /// pending messages): how another runtime swaps one actor for its own.
    pub fn map_actors<B>(self, f: impl FnMut(A) -> B) -> Simulation<M, B> {
        Simulation { actors: self.actors.into_iter().map(f).collect(), core: self.core, seed: self.seed }
    }

    /// Runs to completion (until no events remain or an actor stops the run).
    pub fn run(&mut self) {
        self.run_until(SimTime::MAX, |_| true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    enum Ping {
        Go(u32),
        Tick,
    }
    struct Pinger {
        peer: ActorId,
        seen: Vec<(u64, u32)>,
        timer: Option<TimerId>,
    }
    impl Actor<Ping> for Pinger {
        fn handle<C: Context<Ping> + ?Sized>(&mut self, msg: Ping, ctx: &mut C) {
            match msg {
                Ping::Go(n) => {
                    self.seen.push((ctx.now().0, n));
                    if n > 0 {
                        let d = Dur(ctx.rng().random_range(1..10));
                        ctx.send_in(d, self.peer, Ping::Go(n - 1));
                    }
                    if n == 3 {
                        self.timer = Some(ctx.send_in(Dur(1_000), ctx.me(), Ping::Tick));
                    }
                    if n == 1 {
                        if let Some(t) = self.timer.take() {
                            ctx.cancel(t);
                        }
                    }
                }
                Ping::Tick => panic!("cancelled timer fired"),
            }
        }
    }

    fn play(seed: u64) -> Vec<(u64, u32)> {
        let mut sim: Simulation<Ping, Pinger> = Simulation::new(seed);
        let a = sim.add(Pinger { peer: ActorId(1), seen: vec![], timer: None }, 1);
        sim.add(Pinger { peer: a, seen: vec![], timer: None }, 2);
        sim.schedule(SimTime(0), a, Ping::Go(6));
        sim.run();
        let mut all: Vec<_> = sim.actors.iter().flat_map(|p| p.seen.clone()).collect();
        all.sort();
        all
    }

    #[test]
    fn runs_deterministically_and_honours_cancel() {
        let a = play(42);
        assert_eq!(a.len(), 7);
        assert_eq!(a, play(42));
        assert_ne!(a, play(43));
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn run_until_leaves_later_events_pending() {
        let mut sim: Simulation<Ping, Pinger> = Simulation::new(1);
        let a = sim.add(Pinger { peer: ActorId(0), seen: vec![], timer: None }, 1);
        sim.schedule(SimTime(100), a, Ping::Go(0));
        sim.run_until(SimTime(50), |_| true);
        assert!(sim.actors[0].seen.is_empty());
        assert_eq!(sim.now(), SimTime(50));
        sim.run();
        assert_eq!(sim.actors[0].seen, vec![(100, 0)]);
    }
}
