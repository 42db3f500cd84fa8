//! Solving a good_lp model without the solver's panics reaching the user: microlp may panic on
//! degenerate problems (an assertion in its simplex), and a figure or a plan is not worth a crash
//! or an assertion printed on the terminal. Shared by the fluid capacity bound and the planner.

use good_lp::SolverModel;

/// Solves `model`. A solver error comes back as its message, a solver panic as "the solver failed
/// (an internal error of microlp)"; while the solver runs on this thread the panic hook stays
/// quiet (other threads' panics still print).
pub fn solve_quietly<M: SolverModel>(model: M) -> Result<M::Solution, String>
where
    M::Error: std::fmt::Display,
{
    thread_local!(static SOLVING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !SOLVING.with(|s| s.get()) {
                previous(info)
            }
        }));
    });
    SOLVING.with(|s| s.set(true));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.solve()));
    SOLVING.with(|s| s.set(false));
    match out {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("the solver failed (an internal error of microlp)".into()),
    }
}
