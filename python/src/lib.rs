//! `tessera._tessera`: the native half of the `tessera` Python package (PyO3, abi3).
//!
//! Thin on purpose: it moves numpy arrays into tessera-engine's types and the results back, and
//! holds no algorithm of its own. The crowd-kit-shaped classes (pandas in and out) are the Python
//! half, `python/tessera/aggregation.py`; simulation and benchmarks are `sim.rs`.
//!
//! Data crosses as whole arrays: the answers as three `uint32` code arrays (task, worker, label,
//! dense ids made by `pandas.factorize`), results as `float64`/`int64` arrays, never row by row.
//! The GIL is released while an algorithm runs.

use numpy::{IntoPyArray, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::{de::DeserializeOwned, Serialize};
use tessera_engine::quality::aggregation::{self as agg, Aggregation, Aggregator, Answers, NO_LABEL};

mod gym;
mod sim;

/// `default` with the parameters of `params` (a JSON object, crowd-kit's names) that it has;
/// the engine's parameter structs are serde types, so a parameter is set by its field name.
fn with_params<T: Aggregator + Serialize + DeserializeOwned + 'static>(default: T, params: &serde_json::Map<String, serde_json::Value>) -> PyResult<Box<dyn Aggregator>> {
    let mut value = serde_json::to_value(&default).map_err(|e| PyValueError::new_err(e.to_string()))?;
    if let Some(fields) = value.as_object_mut() {
        for (k, v) in params {
            if let Some(f) = fields.get_mut(k) {
                *f = v.clone();
            }
        }
    }
    let m: T = serde_json::from_value(value).map_err(|e| PyValueError::new_err(format!("parameters {}: {e}", serde_json::Value::Object(params.clone()))))?;
    Ok(Box::new(m))
}

/// The aggregator of `method` (tessera-engine's command-line name) with the given parameters.
fn aggregator(method: &str, params: &str) -> PyResult<Box<dyn Aggregator>> {
    let m: agg::Method = method.parse().map_err(PyKeyError::new_err)?;
    let p: serde_json::Map<String, serde_json::Value> = serde_json::from_str(params).map_err(|e| PyValueError::new_err(format!("parameters: {e}")))?;
    match m {
        agg::Method::Zbs => with_params(agg::ZeroBasedSkill::default(), &p),
        agg::Method::Ds => with_params(agg::DawidSkene::default(), &p),
        agg::Method::OneCoinDs => with_params(agg::OneCoinDawidSkene::default(), &p),
        agg::Method::Glad => with_params(agg::Glad::default(), &p),
        agg::Method::Mace => with_params(agg::Mace::default(), &p),
        agg::Method::Kos => with_params(agg::Kos::default(), &p),
        agg::Method::Mmsr => with_params(agg::Mmsr::default(), &p),
        agg::Method::DsSmoothed => with_params(agg::SmoothedDawidSkene::default(), &p),
        other => Ok(other.aggregator()),
    }
}

fn answers(n: [usize; 3], task: PyReadonlyArray1<'_, u32>, worker: PyReadonlyArray1<'_, u32>, label: PyReadonlyArray1<'_, u32>) -> PyResult<Answers> {
    let v = |a: PyReadonlyArray1<'_, u32>| a.as_slice().map(<[u32]>::to_vec).or_else(|_| Ok::<_, PyErr>(a.as_array().to_vec()));
    Answers::new(n[0], n[1], n[2], v(task)?, v(worker)?, v(label)?).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// An [`Aggregation`] as a dict of numpy arrays: `labels` (int64, -1 for a task without
/// answers), `probas` (float64, tasks × labels), `skills`, `difficulty`, the sparse confusion
/// rows `confusion_offsets` / `confusion_observed` / `confusion` (rows × labels), `iterations`,
/// `loss_history`.
fn to_dict<'py>(py: Python<'py>, r: Aggregation) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let k = r.n_labels;
    let n = r.labels.len();
    let labels: Vec<i64> = r.labels.iter().map(|&l| if l == NO_LABEL { -1 } else { l as i64 }).collect();
    d.set_item("labels", labels.into_pyarray(py))?;
    d.set_item("probas", r.probas.into_pyarray(py).reshape([n, k])?)?;
    d.set_item("skills", r.worker_skills.map(|s| s.into_pyarray(py)))?;
    d.set_item("difficulty", r.task_difficulty.map(|s| s.into_pyarray(py)))?;
    if let Some(c) = r.confusion {
        let rows = c.observed.len();
        d.set_item("confusion_offsets", c.offsets.into_pyarray(py))?;
        d.set_item("confusion_observed", c.observed.into_pyarray(py))?;
        d.set_item("confusion", c.values.into_pyarray(py).reshape([rows, k])?)?;
    }
    d.set_item("iterations", r.iterations)?;
    d.set_item("loss_history", r.loss_history)?;
    Ok(d)
}

/// aggregate(method, params_json, n_tasks, n_workers, n_labels, task, worker, label, golden=None)
/// --
///
/// Fits tessera-engine's `method` ("mv", "wawa", "zbs", "gold-mv", "ds", "one-coin-ds", "glad",
/// "mace", "kos", "mmsr", "ds-smoothed" (no crowd-kit class: reachable here only)) with `params_json` (a JSON object of parameters by the engine's field
/// names, which are crowd-kit's) on answers given as uint32 codes. `golden`: int64, one entry per task,
/// -1 where the true label is unknown. Returns a dict of numpy arrays (see `tessera.aggregation`).
#[pyfunction]
#[pyo3(signature = (method, params_json, n_tasks, n_workers, n_labels, task, worker, label, golden=None))]
#[allow(clippy::too_many_arguments)]
fn aggregate<'py>(
    py: Python<'py>,
    method: &str,
    params_json: &str,
    n_tasks: usize,
    n_workers: usize,
    n_labels: usize,
    task: PyReadonlyArray1<'py, u32>,
    worker: PyReadonlyArray1<'py, u32>,
    label: PyReadonlyArray1<'py, u32>,
    golden: Option<PyReadonlyArray1<'py, i64>>,
) -> PyResult<Bound<'py, PyDict>> {
    let m = aggregator(method, params_json)?;
    let a = answers([n_tasks, n_workers, n_labels], task, worker, label)?;
    let golden: Option<Vec<Option<u32>>> = match golden {
        Some(g) => Some(g.as_array().iter().map(|&l| if l < 0 { Ok(None) } else { u32::try_from(l).map(Some) }).collect::<Result<_, _>>().map_err(|_| PyValueError::new_err("golden label code out of range"))?),
        None => None,
    };
    let r = py.detach(|| m.fit(&a, golden.as_deref())).map_err(|e| PyValueError::new_err(e.to_string()))?;
    to_dict(py, r)
}

/// weighted_vote(n_tasks, n_workers, n_labels, task, worker, label, weights)
/// --
///
/// Weighted majority vote (crowd-kit's `MajorityVote.fit(data, skills)`): `weights` (float64)
/// has one weight per worker code. Returns the same dict as `aggregate`.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn weighted_vote<'py>(
    py: Python<'py>,
    n_tasks: usize,
    n_workers: usize,
    n_labels: usize,
    task: PyReadonlyArray1<'py, u32>,
    worker: PyReadonlyArray1<'py, u32>,
    label: PyReadonlyArray1<'py, u32>,
    weights: PyReadonlyArray1<'py, f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let a = answers([n_tasks, n_workers, n_labels], task, worker, label)?;
    let w = weights.as_array().to_vec();
    let r = py.detach(|| agg::MajorityVote.fit_weighted(&a, &w)).map_err(|e| PyValueError::new_err(e.to_string()))?;
    to_dict(py, r)
}

#[pymodule]
fn _tessera(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(aggregate, m)?)?;
    m.add_function(wrap_pyfunction!(weighted_vote, m)?)?;
    sim::register(m)?;
    gym::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
