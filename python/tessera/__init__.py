"""Tessera from Python, on the same Rust core as the ``tessera`` command.

- :mod:`tessera.aggregation`: crowd-kit 1.4.2's ten label-aggregation classes, same interface
  (``from tessera.aggregation import DawidSkene``), computed in Rust.
- :func:`tessera.simulate`: run a scenario (a TOML path or a dict) and get its summary as a dict
  and, on request, its per-task records as a pandas DataFrame.
- :func:`tessera.bench`: routing policies × scenarios × held-out seeds, the leaderboard as a
  DataFrame.
- :mod:`tessera.gym` (``import tessera.gym``; needs Gymnasium): the simulator's routing decisions
  as Gymnasium environments, ``tessera/NModel-v0`` and one per benchmark scenario, with action
  masks for sb3-contrib's MaskablePPO.
"""

from . import aggregation
from ._tessera import __version__
from .sim import SimulationWarning, bench, policies, simulate

__all__ = ["aggregation", "simulate", "bench", "policies", "SimulationWarning", "__version__"]
