"""Simulation and routing benchmarks from Python, on the code paths of ``tessera simulate`` and
``tessera bench`` (the Rust library behind the command line; nothing is reimplemented here)."""

import io
import json
import os
import warnings
from typing import Any, Dict, Iterable, List, Literal, Mapping, Optional, Tuple, Union, overload

import pandas as pd

from . import _tessera

Scenario = Union[str, "os.PathLike[str]", Mapping[str, Any]]

__all__ = ["simulate", "bench", "policies", "SimulationWarning"]


class SimulationWarning(UserWarning):
    """A scenario warning (a value allowed but probably not meant), or a run that stopped early."""


def _value(v: Any) -> str:
    """A Python value as the TOML value of ``--set KEY=VALUE``."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str, list, tuple)):
        return json.dumps(list(v) if isinstance(v, tuple) else v)
    raise TypeError(f"override values are numbers, strings, booleans or lists of them, not {type(v).__name__}")


def _overrides(overrides: Optional[Mapping[str, Any]]) -> Tuple[List[str], List[str]]:
    """``{"pools.crowd.count": 60, "pools.crowd.learning": None}`` as (--set list, --unset list)."""
    sets: List[str] = []
    unsets: List[str] = []
    for key, v in (overrides or {}).items():
        if v is None:
            unsets.append(key)
        else:
            sets.append(f"{key}={_value(v)}")
    return sets, unsets


# tasks.csv's columns with fixed dtypes (times in seconds, empty where they do not apply)
_TASK_DTYPES = {
    "replication": "int64", "task": "int64", "stream": str, "task_type": str, "priority": "int64",
    "arrival_s": float, "first_start_s": float, "final_s": float, "wait_s": float, "time_in_system_s": float,
    "labels": "int64", "walkaways": "int64", "reworks": "int64", "reopened": "int64", "reopened_gap_s": float,
    "final_label": "Int64", "confidence": float, "true_label": "int64", "correct": "boolean",
    "deadline_s": float, "deadline_missed": bool, "item_cost_usd": float, "counted": bool, "left_s": float,
}


@overload
def simulate(
    scenario: Scenario,
    seed: Optional[int] = ...,
    replications: Optional[int] = ...,
    overrides: Optional[Mapping[str, Any]] = ...,
    tasks: Literal[False] = ...,
) -> Dict[str, Any]: ...
@overload
def simulate(
    scenario: Scenario,
    seed: Optional[int] = ...,
    replications: Optional[int] = ...,
    overrides: Optional[Mapping[str, Any]] = ...,
    *,
    tasks: Literal[True],
) -> Tuple[Dict[str, Any], pd.DataFrame]: ...


def simulate(
    scenario: Scenario,
    seed: Optional[int] = None,
    replications: Optional[int] = None,
    overrides: Optional[Mapping[str, Any]] = None,
    tasks: bool = False,
) -> Union[Dict[str, Any], Tuple[Dict[str, Any], pd.DataFrame]]:
    """Runs a scenario in simulated time, as ``tessera simulate`` does, and returns its figures.

    Args:
        scenario: a scenario file (TOML, the format of ``scenarios/README.md``), or the same
            structure as a dict (``{"run": {...}, "streams": [...], "pools": [...]}``).
        seed: seed of the first replication (default: the scenario's ``run.seed``, else 1).
        replications: independent replications, run in parallel (default: the scenario's
            ``run.replications``, else 1).
        overrides: what-if changes by dotted path, as ``--set``:
            ``{"pools.crowd.count": 60, "run.horizon": "30d", "routing.policy": "skill-greedy"}``;
            a value of ``None`` removes the field or table (``--unset``).
        tasks: also return the per-task records (tasks.csv's columns) as a DataFrame.

    Returns:
        The summary as a dict (summary.json, schema ``tessera.summary/2``: every figure as mean
        and 95% confidence interval over the replications, plus each replication); with
        ``tasks=True`` a tuple ``(summary, tasks)``, ``tasks`` one row per task in replication
        then task order. The same inputs give the same figures as the command line, byte for byte.

    Raises:
        ValueError: the scenario does not load (the message names file:line:column and the
            field), or the run fails. Scenario warnings and a run that stopped early (its figures
            cover what ran; ``summary["stopped"]`` says where and why) are ``SimulationWarning``.
    """
    sets, unsets = _overrides(overrides)
    if isinstance(scenario, Mapping):
        path, text = None, json.dumps(scenario)
    else:
        path, text = os.fspath(scenario), None
    summary_json, notes, tasks_csv = _tessera.simulate(path, text, seed, replications, sets, unsets, tasks)
    for note in notes:
        warnings.warn(note, SimulationWarning, stacklevel=2)
    summary: Dict[str, Any] = json.loads(summary_json)
    if summary.get("stopped"):
        warnings.warn(f"the run stopped early: {summary['stopped']}", SimulationWarning, stacklevel=2)
    if not tasks:
        return summary
    assert tasks_csv is not None
    records = pd.read_csv(io.BytesIO(tasks_csv), dtype=_TASK_DTYPES)
    return summary, records


@overload
def bench(
    scenarios: Optional[Iterable[Union[str, "os.PathLike[str]"]]] = ...,
    policies: Optional[Iterable[str]] = ...,
    seeds: int = ...,
    seed: int = ...,
    tuning: bool = ...,
    overrides: Optional[Mapping[str, Any]] = ...,
    threads: Optional[int] = ...,
    streams: Literal[False] = ...,
) -> pd.DataFrame: ...
@overload
def bench(
    scenarios: Optional[Iterable[Union[str, "os.PathLike[str]"]]] = ...,
    policies: Optional[Iterable[str]] = ...,
    seeds: int = ...,
    seed: int = ...,
    tuning: bool = ...,
    overrides: Optional[Mapping[str, Any]] = ...,
    threads: Optional[int] = ...,
    *,
    streams: Literal[True],
) -> Tuple[pd.DataFrame, pd.DataFrame]: ...


def bench(
    scenarios: Optional[Iterable[Union[str, "os.PathLike[str]"]]] = None,
    policies: Optional[Iterable[str]] = None,
    seeds: int = 5,
    seed: int = 1,
    tuning: bool = False,
    overrides: Optional[Mapping[str, Any]] = None,
    threads: Optional[int] = None,
    streams: bool = False,
) -> Union[pd.DataFrame, Tuple[pd.DataFrame, pd.DataFrame]]:
    """Benchmarks routing policies on scenarios over held-out seeds, as ``tessera bench`` does.

    Args:
        scenarios: scenario files, as paths or globs with ``*`` and ``?`` in the file name
            (default: the shipped benchmark scenarios, ``scenarios/bench/*.toml`` and
            ``scenarios/bench/qgym/*.toml`` of the checkout the package was built from).
        policies: policy names (default: every policy; see :func:`policies`).
        seeds: seeds (replications) per scenario and policy, 1 to 10,000.
        seed: base seed S of both seed sets.
        tuning: run on the tuning seeds instead of the held-out evaluation seeds.
        overrides: changes to every scenario by dotted path (``--set``), e.g. ``{"run.horizon": "1d"}``.
        threads: worker threads (default: every core).
        streams: also return the per-stream table (leaderboard-streams.csv).

    Returns:
        The leaderboard (leaderboard.csv) as a DataFrame: one row per scenario and policy, each
        figure's mean and 95% half-width, the composite reward; ``.attrs["markdown"]`` holds
        leaderboard.md. With ``streams=True`` a tuple ``(leaderboard, streams)``. Common random
        numbers: on a given seed every policy sees the same arrivals and workforce.
    """
    sets, unsets = _overrides(overrides)
    if unsets:
        raise ValueError(f"bench takes no removals (None values): {unsets}")
    if isinstance(scenarios, (str, os.PathLike)):
        scenarios = [scenarios]
    paths = [os.fspath(s) for s in (scenarios or [])]
    csv, streams_csv, markdown = _tessera.bench(paths, list(policies or []), seeds, seed, tuning, sets, threads)
    board = pd.read_csv(io.StringIO(csv))
    board.attrs["markdown"] = markdown
    if not streams:
        return board
    return board, pd.read_csv(io.StringIO(streams_csv))


def policies() -> List[str]:
    """The routing policies by name (``routing.policy``, ``bench(policies=...)``)."""
    return list(_tessera.policies())
