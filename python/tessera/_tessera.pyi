"""Type stubs of the native half of the package (Rust, PyO3). Use the Python API instead:
``tessera.aggregation``, ``tessera.simulate``, ``tessera.bench``, ``tessera.gym``."""

from os import PathLike
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt

__version__: str

def aggregate(
    method: str,
    params_json: str,
    n_tasks: int,
    n_workers: int,
    n_labels: int,
    task: npt.NDArray[np.uint32],
    worker: npt.NDArray[np.uint32],
    label: npt.NDArray[np.uint32],
    golden: Optional[npt.NDArray[np.int64]] = None,
) -> Dict[str, Any]:
    """Fits tessera-engine's ``method`` on answers as codes. Keys of the result: ``labels``
    (int64, -1 for a task without answers), ``probas`` (float64, tasks × labels), ``skills``,
    ``difficulty`` (or None), ``confusion_offsets`` / ``confusion_observed`` / ``confusion``
    (methods with confusion matrices), ``iterations``, ``loss_history``."""

def weighted_vote(
    n_tasks: int,
    n_workers: int,
    n_labels: int,
    task: npt.NDArray[np.uint32],
    worker: npt.NDArray[np.uint32],
    label: npt.NDArray[np.uint32],
    weights: npt.NDArray[np.float64],
) -> Dict[str, Any]:
    """Weighted majority vote, one weight per worker code; the same keys as ``aggregate``."""

def simulate(
    path: Optional[Union[str, PathLike[str]]],
    scenario_json: Optional[str],
    seed: Optional[int],
    replications: Optional[int],
    set: List[str],
    unset: List[str],
    tasks: bool,
) -> Tuple[str, List[str], Optional[bytes]]:
    """(summary.json text, scenario warnings, tasks.csv bytes or None)."""

def bench(
    scenarios: List[str],
    policies: List[str],
    seeds: int,
    seed: int,
    tuning: bool,
    set: List[str],
    threads: Optional[int],
) -> Tuple[str, str, str]:
    """(leaderboard.csv, leaderboard-streams.csv, leaderboard.md)."""

def policies() -> List[str]:
    """The routing policies by name."""

Step = Tuple[npt.NDArray[np.float32], npt.NDArray[np.bool_], float, bool, float, bool, Optional[str]]
"""(observation, action mask, reward of the previous step, done, simulated time [h], picks a task,
summary.json text at the end)."""

class RoutingCore:
    """One scenario's routing environment, one decision at a time (``tessera.gym.RoutingEnv`` is
    the Gymnasium class over it)."""

    def __init__(
        self,
        path: Optional[Union[str, PathLike[str]]],
        scenario_json: Optional[str],
        builtin: Optional[str],
        set: List[str],
        unset: List[str],
        objective: str,
        candidates: str = "oldest",
    ) -> None: ...
    @property
    def warnings(self) -> List[str]: ...
    @property
    def name(self) -> str: ...
    def reset(self, seed: int) -> Step:
        """Abandons the running episode and runs seed ``seed`` to its first decision with a choice."""
    def step(self, slot: int) -> Step:
        """Takes candidate ``slot`` and runs to the next decision with a choice (or the end)."""
    def candidates(self) -> int: ...
    def close(self) -> None: ...

def gym_scenarios() -> List[Tuple[str, str]]:
    """The shipped benchmark scenarios: (name under scenarios/bench, TOML text)."""

def gym_dims() -> Tuple[int, int, int, float]:
    """(MAX_CANDIDATES, PAIR, GLOBAL, OBS_BOUND)."""
