//! The routing environment for Gymnasium (`tessera.gym`): a thin handle on
//! `tessera_learn::step::StepEnv` (the simulation on its own thread, one routing decision at a
//! time, the learned policy's candidates and features, training's reward). The observation
//! crosses as a float32 array, the mask as a bool array; the GIL is released while the
//! simulation runs to the next decision.

use numpy::IntoPyArray;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::sync::{Arc, Mutex};
use tessera::cli;
use tessera_engine::spec::Scenario;
use tessera_learn::reward::Objective;
use tessera_learn::step::{padded, Next, StepEnv, OBS_BOUND, OBS_LEN};
use tessera_policies::learned::features::{Candidates, GLOBAL, MAX_CANDIDATES, PAIR};

/// The shipped benchmark scenarios, embedded so that the wheel needs no checkout:
/// (name under scenarios/bench, TOML text).
const SCENARIOS: &[(&str, &str)] = &[
    ("qgym/n-model", include_str!("../../scenarios/bench/qgym/n-model.toml")),
    ("learning/cmu-two-class", include_str!("../../scenarios/bench/learning/cmu-two-class.toml")),
    ("drifting-workforce", include_str!("../../scenarios/bench/drifting-workforce.toml")),
    ("expensive-vs-cheap", include_str!("../../scenarios/bench/expensive-vs-cheap.toml")),
    ("heterogeneous-accuracy", include_str!("../../scenarios/bench/heterogeneous-accuracy.toml")),
    ("high-class-overlap", include_str!("../../scenarios/bench/high-class-overlap.toml")),
    ("overlapping-skills", include_str!("../../scenarios/bench/overlapping-skills.toml")),
    ("scarce-experts-surge", include_str!("../../scenarios/bench/scarce-experts-surge.toml")),
    ("tight-deadlines", include_str!("../../scenarios/bench/tight-deadlines.toml")),
];

/// (observation, mask, reward, done, simulated time [h], picks a task, summary.json text at the end)
type Out<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, f64, bool, f64, bool, Option<String>);

/// RoutingCore(path, scenario_json, builtin, set, unset, objective, candidates="oldest")
/// --
///
/// One scenario's routing environment; `reset(seed)` starts an episode, `step(slot)` takes a
/// candidate. Use `tessera.gym.RoutingEnv`, the Gymnasium class over it.
#[pyclass(module = "tessera._tessera")]
pub struct RoutingCore {
    scenario: Arc<Scenario>,
    objective: Objective,
    candidates: Candidates,
    warnings: Vec<String>,
    env: Mutex<Option<StepEnv>>,
}

fn out<'py>(py: Python<'py>, next: Next) -> PyResult<Out<'py>> {
    Ok(match next {
        Next::Decision { reward, at, decision } => {
            let (obs, mask) = padded(&decision);
            (obs.into_pyarray(py).into_any(), mask.into_pyarray(py).into_any(), reward, false, at as f64 / 3.6e9, decision.picks_task, None)
        }
        Next::Done(f) => {
            let summary = serde_json::to_string(&f.summary).map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
            (vec![0f32; OBS_LEN].into_pyarray(py).into_any(), vec![false; MAX_CANDIDATES].into_pyarray(py).into_any(), f.reward, true, f.end as f64 / 3.6e9, false, Some(summary))
        }
    })
}

impl RoutingCore {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<StepEnv>> {
        self.env.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl RoutingCore {
    #[new]
    #[pyo3(signature = (path, scenario_json, builtin, set, unset, objective, candidates = "oldest"))]
    #[allow(clippy::too_many_arguments)]
    fn new(path: Option<std::path::PathBuf>, scenario_json: Option<String>, builtin: Option<String>, set: Vec<String>, unset: Vec<String>, objective: &str, candidates: &str) -> PyResult<Self> {
        let objective = Objective::parse(objective).ok_or_else(|| PyValueError::new_err(format!("objective {objective:?}: expected \"holding\" or \"composite\"")))?;
        let candidates = Candidates::parse(candidates).ok_or_else(|| PyValueError::new_err(format!("candidates {candidates:?}: expected one of {}", Candidates::NAMES.map(|n| format!("{n:?}")).join(", "))))?;
        let loaded = match (&path, &scenario_json, &builtin) {
            (None, None, Some(b)) => match SCENARIOS.iter().find(|s| s.0 == b) {
                Some((name, text)) => cli::load_scenario_text(text, &format!("scenarios/bench/{name}.toml"), &unset, &set),
                None => return Err(PyValueError::new_err(format!("no shipped scenario {b:?}; the shipped ones: {}", SCENARIOS.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")))),
            },
            _ => crate::sim::load(path.as_deref(), scenario_json.as_deref(), &unset, &set),
        }
        .map_err(|e| PyValueError::new_err(format!("{e:#}")))?;
        Ok(RoutingCore { scenario: Arc::new(loaded.scenario), objective, candidates, warnings: loaded.warnings.iter().map(|w| w.to_string()).collect(), env: Mutex::new(None) })
    }

    /// Scenario warnings (values allowed but probably not meant).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }

    /// The scenario's name.
    #[getter]
    fn name(&self) -> String {
        self.scenario.name.clone().unwrap_or_else(|| "scenario".into())
    }

    /// Abandons the running episode (if any) and starts one with simulation seed `seed`, up to
    /// its first decision with two or more candidates.
    fn reset<'py>(&self, py: Python<'py>, seed: u64) -> PyResult<Out<'py>> {
        let next = py.detach(|| {
            let mut env = self.lock();
            *env = None; // cancels the old run and waits for its thread
            let (e, next) = StepEnv::start(self.scenario.clone(), seed, self.objective, self.candidates)?;
            *env = Some(e);
            Ok::<_, String>(next)
        });
        out(py, next.map_err(PyRuntimeError::new_err)?)
    }

    /// Takes candidate `slot` of the waiting decision and runs to the next one (or the end).
    fn step<'py>(&self, py: Python<'py>, slot: usize) -> PyResult<Out<'py>> {
        let next = py.detach(|| {
            let mut guard = self.lock();
            let env = guard.as_mut().ok_or_else(|| (false, "no episode: call reset() first".to_string()))?;
            let n = env.candidates();
            if n == 0 {
                return Err((false, "the episode is over: call reset()".to_string()));
            }
            if slot >= n {
                return Err((true, format!("slot {slot} is not a candidate: this decision has {n} (slots 0 to {})", n - 1)));
            }
            env.step(slot).map_err(|e| (false, e))
        });
        match next {
            Ok(n) => out(py, n),
            Err((true, m)) => Err(PyValueError::new_err(m)),
            Err((false, m)) => Err(PyRuntimeError::new_err(m)),
        }
    }

    /// Candidates of the waiting decision (0 before reset and after the end).
    fn candidates(&self) -> usize {
        self.lock().as_ref().map_or(0, StepEnv::candidates)
    }

    /// Ends the running episode, if any.
    fn close(&self, py: Python<'_>) {
        py.detach(|| *self.lock() = None);
    }
}

/// The shipped benchmark scenarios: {name: TOML text}.
#[pyfunction]
fn gym_scenarios() -> Vec<(&'static str, &'static str)> {
    SCENARIOS.to_vec()
}

/// (MAX_CANDIDATES, PAIR, GLOBAL, OBS_BOUND): slots, numbers per candidate, numbers about the
/// state, and the bound of every observation number.
#[pyfunction]
fn gym_dims() -> (usize, usize, usize, f32) {
    (MAX_CANDIDATES, PAIR, GLOBAL, OBS_BOUND)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<RoutingCore>()?;
    m.add_function(wrap_pyfunction!(gym_scenarios, m)?)?;
    m.add_function(wrap_pyfunction!(gym_dims, m)?)?;
    Ok(())
}
