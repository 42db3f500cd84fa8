//! Simulation and benchmarks from Python: `tessera.simulate` and `tessera.bench` call the same
//! library functions as `tessera simulate` and `tessera bench` (`tessera::cli`), with the GIL
//! released while they run. Results cross as text in the CLI's own formats (summary.json,
//! tasks.csv, leaderboard.csv) that the Python half reads with `json` and pandas.

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use tessera::cli;

fn err(e: anyhow::Error) -> PyErr {
    PyValueError::new_err(format!("{e:#}"))
}

/// A scenario given as JSON (a Python dict) as TOML text for the scenario loader.
fn toml_text(json: &str) -> anyhow::Result<String> {
    let value: toml::Value = serde_json::from_str(json).map_err(|e| anyhow::anyhow!("the scenario dict cannot be TOML: {e}"))?;
    Ok(toml::to_string(&value)?)
}

/// A scenario from a file or from JSON text of a dict, with the CLI's --unset and --set.
pub(crate) fn load(path: Option<&std::path::Path>, scenario_json: Option<&str>, unset: &[String], set: &[String]) -> anyhow::Result<tessera_scenarios::Loaded> {
    match (path, scenario_json) {
        (Some(p), _) => cli::load_scenario_with(p, unset, set),
        (None, Some(j)) => cli::load_scenario_text(&toml_text(j)?, "<dict>", unset, set),
        (None, None) => anyhow::bail!("no scenario"),
    }
}

/// simulate(path, scenario_json, seed, replications, set, unset, tasks)
/// --
///
/// Loads the scenario (a file, or JSON text of a dict), applies `unset` then `set` (the CLI's
/// --unset and --set), runs it in memory; returns (summary.json text, warnings, tasks.csv bytes
/// or None).
#[pyfunction]
#[pyo3(signature = (path, scenario_json, seed, replications, set, unset, tasks))]
#[allow(clippy::too_many_arguments)]
fn simulate<'py>(
    py: Python<'py>,
    path: Option<std::path::PathBuf>,
    scenario_json: Option<String>,
    seed: Option<u64>,
    replications: Option<u32>,
    set: Vec<String>,
    unset: Vec<String>,
    tasks: bool,
) -> PyResult<(String, Vec<String>, Option<Bound<'py, PyBytes>>)> {
    let out = py.detach(|| -> anyhow::Result<_> {
        let loaded = load(path.as_deref(), scenario_json.as_deref(), &unset, &set)?;
        let (seed, reps) = cli::simulate::seed_and_replications(&loaded.scenario, seed, replications)?;
        let run = cli::simulate::simulate_in_memory(&loaded.scenario, seed, reps, tasks)?;
        Ok((run, loaded.warnings.iter().map(|w| w.to_string()).collect::<Vec<_>>()))
    });
    let (run, warnings) = out.map_err(err)?;
    let summary = serde_json::to_string(&run.summary).map_err(|e| err(e.into()))?;
    Ok((summary, warnings, run.tasks_csv.map(|b| PyBytes::new(py, &b))))
}

/// bench(scenarios, policies, seeds, seed, tuning, set, threads)
/// --
///
/// `tessera bench` without files: returns (leaderboard.csv, leaderboard-streams.csv,
/// leaderboard.md) as text. An empty `scenarios` list means the shipped benchmark scenarios.
#[pyfunction]
#[pyo3(name = "bench", signature = (scenarios, policies, seeds, seed, tuning, set, threads))]
#[allow(clippy::too_many_arguments)]
fn run_bench(py: Python<'_>, scenarios: Vec<String>, policies: Vec<String>, seeds: u32, seed: u64, tuning: bool, set: Vec<String>, threads: Option<usize>) -> PyResult<(String, String, String)> {
    let scenarios = if scenarios.is_empty() {
        let lib = tessera_scenarios::library_dir();
        ["bench/*.toml", "bench/qgym/*.toml"].iter().map(|g| lib.join(g).to_string_lossy().into_owned()).collect()
    } else {
        scenarios
    };
    let args = cli::bench::BenchArgs { scenarios, policies, seeds, seed, tuning, set, threads, models: None, out: Default::default(), quiet: true };
    let board = py.detach(|| cli::bench::leaderboard(&args)).map_err(err)?;
    Ok((board.csv, board.streams_csv, board.markdown))
}

/// The names of the routing policies (`tessera bench --policies`).
#[pyfunction]
fn policies() -> Vec<&'static str> {
    tessera_policies::heuristics()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(run_bench, m)?)?;
    m.add_function(wrap_pyfunction!(policies, m)?)?;
    Ok(())
}
