"""Gymnasium environments over Tessera's routing decisions: the simulator runs in Rust, and at
every decision with a choice (an annotator became free and two or more kinds of waiting work
fit; a task became available and two or more idle people fit) it stops and asks the agent.

The definitions are those of ``tessera train`` (learned routing), so that a policy trained here
and one trained there see the same thing and are scored the same way:

- **Observation** (``Box``, float32, ``MAX_CANDIDATES * PAIR + GLOBAL`` numbers): up to
  ``MAX_CANDIDATES`` (16) candidates, each a (task, annotator) pair described by ``PAIR`` (30)
  numbers (stream and pool one-hots, holding cost, service rate, age, slack to the deadline,
  declared accuracy, trust, per-item pay, queue length, idle time...), rows past the candidates
  zero; then ``GLOBAL`` (10) numbers about the whole state (waiting tasks per stream, idle
  people, which kind of decision this is). Only what a live dispatcher sees: never the truth.
- **Action** (``Discrete(MAX_CANDIDATES)``): the slot of the candidate to take. The valid slots
  are ``action_masks()`` (for sb3-contrib's ``MaskablePPO``) and ``info["action_mask"]``.
  Candidates are listed in queue order (or idle order), so **slot 0 is always
  first-come-first-served's pick**: taking it at every step runs ``fifo``, figure for figure.
- **Reward**: ``"holding"``: minus the holding cost accrued until the next decision,
  ``-sum(h_i * hours in the system)`` [USD]; ``"composite"``: +1 for each label that becomes
  final and right, -1 for each missed deadline, -0.1 x per-item pay [USD], and a time cost of
  0.05 x age per task-hour (0.05 T^2 / 2 for a task that stays T hours). Summed over an episode
  these are the bench's holding cost and (a convex stand-in for) its composite reward.
- **Episode**: one simulation run to the scenario's horizon; ``reset(seed=s)`` runs the
  simulation seed ``s``, the same run as ``tessera simulate --seed s`` and
  ``tessera.simulate(..., seed=s)`` would make with the same picks. At the end,
  ``info["summary"]`` holds the run's summary (the dict ``tessera.simulate`` returns).

Registered environments (``import tessera.gym`` first, or ``gym.make("tessera.gym:tessera/NModel-v0")``):
``tessera/NModel-v0`` (QGym's N-model, holding cost), ``tessera/CmuTwoClass-v0`` (one server, two
classes: c-mu is optimal), and one per benchmark scenario with the composite reward
(``tessera/OverlappingSkills-v0``, ``tessera/TightDeadlines-v0``, ...): see :data:`ENVIRONMENTS`.

Decisions without a choice are taken without asking; the simulation runs on a thread of its own
between steps, with the GIL released.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

try:
    import gymnasium as gym
    from gymnasium import spaces
except ImportError as e:  # pragma: no cover - the message is the point
    raise ImportError("tessera.gym needs Gymnasium: pip install 'gymnasium>=1.0'") from e

from . import _tessera
from .sim import Scenario, _overrides

MAX_CANDIDATES, PAIR, GLOBAL, OBS_BOUND = _tessera.gym_dims()
"""Slots per decision; numbers per candidate; numbers about the whole state; the bound of every
observation number (each is a 0/1 flag, a share in [0, 1] or a signed log ln(1 + |x|))."""
OBS_LEN = MAX_CANDIDATES * PAIR + GLOBAL

SCENARIOS: Dict[str, str] = dict(_tessera.gym_scenarios())
"""The shipped benchmark scenarios embedded in the package: {name under scenarios/bench: TOML text}."""

ENVIRONMENTS: Dict[str, Tuple[str, str]] = {
    "tessera/NModel-v0": ("qgym/n-model", "holding"),
    "tessera/CmuTwoClass-v0": ("learning/cmu-two-class", "holding"),
    "tessera/DriftingWorkforce-v0": ("drifting-workforce", "composite"),
    "tessera/ExpensiveVsCheap-v0": ("expensive-vs-cheap", "composite"),
    "tessera/HeterogeneousAccuracy-v0": ("heterogeneous-accuracy", "composite"),
    "tessera/HighClassOverlap-v0": ("high-class-overlap", "composite"),
    "tessera/OverlappingSkills-v0": ("overlapping-skills", "composite"),
    "tessera/ScarceExpertsSurge-v0": ("scarce-experts-surge", "composite"),
    "tessera/TightDeadlines-v0": ("tight-deadlines", "composite"),
}
"""The registered environments: {id: (shipped scenario, objective)}."""

__all__ = ["RoutingEnv", "ENVIRONMENTS", "SCENARIOS", "MAX_CANDIDATES", "PAIR", "GLOBAL", "OBS_LEN", "OBS_BOUND"]


class RoutingEnv(gym.Env):
    """Routing decisions of one scenario as a Gymnasium environment (see the module's doc).

    Args:
        scenario: a scenario file (TOML) or the same structure as a dict; or None with ``builtin``.
        objective: ``"composite"`` (the bench's reward, made additive per task) or ``"holding"``
            (minus the holding cost, the queueing literature's objective).
        overrides: changes by dotted path, as ``tessera.simulate``'s (``{"run.horizon": "1d"}``).
        builtin: the name of a shipped benchmark scenario (a key of :data:`SCENARIOS`).
        candidates: the tasks a free annotator is offered: ``"oldest"`` (the default: the
            oldest eligible task of each stream) or ``"oldest-and-youngest"`` (each stream's
            youngest too, so that a policy may serve fresh work before a stale backlog; with
            one stream, ``"oldest"`` leaves a free annotator no choice). The same rule as
            ``tessera train --candidates``.
        invalid_action: what a slot that is not a candidate does: ``"first"`` (the default)
            takes slot 0, first-come-first-served's pick, and says so in
            ``info["invalid_action"]``; ``"raise"`` raises ``ValueError``.
        render_mode: only None (there is nothing to draw).

    Raises:
        ValueError: the scenario does not load (the message names the file, line and field).
    """

    metadata: Dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        scenario: Optional[Scenario] = None,
        objective: str = "composite",
        overrides: Optional[Mapping[str, Any]] = None,
        *,
        builtin: Optional[str] = None,
        candidates: str = "oldest",
        invalid_action: str = "first",
        render_mode: Optional[str] = None,
    ) -> None:
        if invalid_action not in ("first", "raise"):
            raise ValueError(f"invalid_action={invalid_action!r}: expected 'first' or 'raise'")
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}: this environment draws nothing (render_mode=None)")
        if (scenario is None) == (builtin is None):
            raise ValueError("give a scenario (a path or a dict) or builtin=<name>, not both")
        sets, unsets = _overrides(overrides)
        path: Optional[str] = None
        text: Optional[str] = None
        if isinstance(scenario, Mapping):
            text = json.dumps(scenario)
        elif scenario is not None:
            path = os.fspath(scenario)
        self._core = _tessera.RoutingCore(path, text, builtin, sets, unsets, objective, candidates)
        self.objective = objective
        self.candidates = candidates
        self.invalid_action = invalid_action
        self.render_mode = None
        self.observation_space = spaces.Box(low=-OBS_BOUND, high=OBS_BOUND, shape=(OBS_LEN,), dtype=np.float32)
        self.action_space = spaces.Discrete(MAX_CANDIDATES)
        self._mask = np.zeros(MAX_CANDIDATES, dtype=bool)
        self._done = True
        self._next_seed: Optional[int] = None
        self._seed = 0

    @property
    def scenario_name(self) -> str:
        """The scenario's ``name``."""
        return self._core.name

    @property
    def warnings(self) -> list:
        """The scenario's warnings (values allowed but probably not meant)."""
        return list(self._core.warnings)

    def _info(self, mask: np.ndarray, time_h: float, picks_task: bool, summary: Optional[str]) -> Dict[str, Any]:
        info: Dict[str, Any] = {
            "action_mask": mask.copy(),
            "candidates": int(mask.sum()),
            "picks": "task" if picks_task else "annotator",
            "time_h": time_h,
            "seed": self._seed,
        }
        if summary is not None:
            info["summary"] = json.loads(summary)
        return info

    def reset(self, *, seed: Optional[int] = None, options: Optional[Dict[str, Any]] = None) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Starts an episode: simulation seed ``seed`` if given, else the previous episode's
        plus one (the first from the environment's random generator).

        Returns ``(observation, info)`` at the first decision with a choice."""
        super().reset(seed=seed)
        if seed is not None:
            self._next_seed = int(seed)
        elif self._next_seed is None:
            self._next_seed = int(self.np_random.integers(0, 2**63 - 1))
        self._seed = self._next_seed
        self._next_seed = (self._seed + 1) % 2**64
        obs, mask, _reward, done, time_h, picks_task, summary = self._core.reset(self._seed)
        if done:
            self._done = True
            raise ValueError(
                f"scenario {self.scenario_name!r} with seed {self._seed} has no routing decision with a choice "
                "(never two candidates at once): there is nothing to learn; lengthen run.horizon or add work"
            )
        self._mask, self._done = mask, False
        return obs, self._info(mask, time_h, picks_task, summary)

    def step(self, action: Any) -> Tuple[np.ndarray, float, bool, bool, Dict[str, Any]]:
        """Takes the candidate in slot ``action``; runs the simulation to the next decision with a
        choice. Returns ``(observation, reward, terminated, truncated, info)``; ``terminated`` at
        the scenario's horizon (``truncated`` is never set: the horizon is part of the problem)."""
        if self._done:
            raise RuntimeError("the episode is over: call reset()")
        slot = int(action)
        invalid = not (0 <= slot < MAX_CANDIDATES and self._mask[slot])
        if invalid:
            if self.invalid_action == "raise":
                raise ValueError(f"slot {slot} is not a candidate: the valid slots are {np.flatnonzero(self._mask).tolist()}")
            slot = 0
        obs, mask, reward, done, time_h, picks_task, summary = self._core.step(slot)
        self._mask, self._done = mask, done
        info = self._info(mask, time_h, picks_task, summary)
        info["invalid_action"] = invalid
        return obs, float(reward), bool(done), False, info

    def action_masks(self) -> np.ndarray:
        """The valid slots of the waiting decision (bool, ``MAX_CANDIDATES``): sb3-contrib's
        ``MaskablePPO`` reads this."""
        return self._mask.copy()

    def close(self) -> None:
        """Ends the running episode (its simulation thread stops)."""
        self._core.close()
        self._done = True


def _register() -> None:
    for env_id, (name, objective) in ENVIRONMENTS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="tessera.gym:RoutingEnv", kwargs={"builtin": name, "objective": objective})


_register()
