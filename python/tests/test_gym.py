"""tessera.gym: Gymnasium's own checker passes on every registered environment; taking slot 0 at
every step is first-come-first-served, figure for figure against tessera.simulate with fifo;
masks, padding, invalid actions, determinism; the holding reward sums to the summary's holding
cost."""
import math
import tomllib

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import tessera
import tessera.gym as tg

from conftest import ROOT

BENCH = ROOT / "scenarios" / "bench"


def horizon(env_id):
    """A CI size: a few hundred decisions per episode."""
    return "300h" if env_id in ("tessera/NModel-v0", "tessera/CmuTwoClass-v0") else "12h"


def without_policy(summary):
    """A summary without the policy's name ("gym" against "fifo")."""
    summary = dict(summary)
    summary.pop("policy", None)
    summary["runs"] = [{k: v for k, v in r.items() if k != "policy"} for r in summary["runs"]]
    return summary


def run_episode(env, seed, pick):
    obs, info = env.reset(seed=seed)
    rewards, steps = [], 0
    while True:
        obs, reward, terminated, truncated, info = env.step(pick(steps, info["action_mask"]))
        rewards.append(reward)
        steps += 1
        assert not truncated
        if terminated:
            return rewards, info


def test_every_shipped_benchmark_scenario_has_an_environment_and_the_embedded_text_is_the_file():
    files = {p.relative_to(BENCH).with_suffix("").as_posix() for p in BENCH.rglob("*.toml")}
    assert files == set(tg.SCENARIOS)
    assert {name for name, _ in tg.ENVIRONMENTS.values()} == files
    for name, text in tg.SCENARIOS.items():
        assert text == (BENCH / f"{name}.toml").read_text(), f"{name}: the wheel embeds an old copy"
    for env_id in tg.ENVIRONMENTS:
        assert env_id in gym.registry


@pytest.mark.parametrize("env_id", list(tg.ENVIRONMENTS))
def test_gymnasium_check_env(env_id):
    env = gym.make(env_id, overrides={"run.horizon": horizon(env_id)})
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


@pytest.mark.parametrize("env_id", list(tg.ENVIRONMENTS))
def test_slot_zero_everywhere_is_fifo_figure_for_figure(env_id):
    name, _ = tg.ENVIRONMENTS[env_id]
    overrides = {"run.horizon": horizon(env_id)}
    env = gym.make(env_id, overrides=overrides)
    rewards, info = run_episode(env, 11, lambda k, mask: 0)
    env.close()
    assert len(rewards) >= 20, f"{env_id}: only {len(rewards)} decisions with a choice"
    want = tessera.simulate(BENCH / f"{name}.toml", seed=11, replications=1, overrides={**overrides, "routing.policy": "fifo"})
    assert without_policy(info["summary"]) == without_policy(want)


def test_the_holding_reward_sums_to_the_summarys_holding_cost():
    """Sum of rewards = -sum over streams of h x mean tasks in the system x hours, from the first
    decision on (the summary's figure counts from time 0: the gap is bounded by what arrived before
    the first decision)."""
    text = tomllib.loads(tg.SCENARIOS["qgym/n-model"])
    h = {s["name"]: s.get("holding_cost", 0.0) for s in text["streams"]}
    env = tg.RoutingEnv(builtin="qgym/n-model", objective="holding", overrides={"run.horizon": "1000h"})
    _, first = env.reset(seed=5)
    rewards, info = run_episode(env, 5, lambda k, mask: int(np.flatnonzero(mask)[-1]))
    run = info["summary"]["runs"][0]
    hours = run["window_end_h"] - run["window_start_h"]
    cost = sum(h[s] * f["tasks_in_system_mean"] * hours for s, f in run["streams"].items())
    before = max(h.values()) * run["arrivals"] * first["time_h"]  # a generous bound on the part before the first decision
    assert -sum(rewards) <= cost + 1e-6 * cost
    assert -sum(rewards) >= cost - before - 1e-6 * cost
    assert first["time_h"] < 5, first["time_h"]


def test_masks_padding_and_observation_space():
    env = tg.RoutingEnv(builtin="overlapping-skills", overrides={"run.horizon": "12h"})
    obs, info = env.reset(seed=3)
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(300):
        mask = env.action_masks()
        assert mask.dtype == bool and mask.shape == (tg.MAX_CANDIDATES,)
        assert (mask == info["action_mask"]).all()
        n = info["candidates"]
        assert 2 <= n <= tg.MAX_CANDIDATES and mask[:n].all() and not mask[n:].any()
        rows = obs[: tg.MAX_CANDIDATES * tg.PAIR].reshape(tg.MAX_CANDIDATES, tg.PAIR)
        assert not rows[n:].any(), "rows past the candidates are zero"
        assert rows[:n].any(axis=1).all()
        assert env.observation_space.contains(obs)
        kinds.add(info["picks"])
        obs, reward, terminated, _, info = env.step(rng.choice(np.flatnonzero(mask)))
        assert not info["invalid_action"] and math.isfinite(reward)
        if terminated:
            assert not env.action_masks().any()
            break
    assert kinds == {"task", "annotator"}


def test_an_invalid_slot_takes_slot_zero_and_says_so_or_raises():
    a = tg.RoutingEnv(builtin="tight-deadlines", overrides={"run.horizon": "12h"})
    b = tg.RoutingEnv(builtin="tight-deadlines", overrides={"run.horizon": "12h"}, invalid_action="raise")
    oa, ia = a.reset(seed=2)
    ob, ib = b.reset(seed=2)
    assert (oa == ob).all()
    for _ in range(30):
        bad = ia["candidates"]  # the first slot past the candidates
        with pytest.raises(ValueError, match="not a candidate"):
            b.step(bad)
        oa, ra, ta, _, ia = a.step(bad)
        assert ia["invalid_action"]
        ob, rb, tb, _, ib = b.step(0)  # the episode goes on after the refusal
        assert not ib["invalid_action"]
        assert (oa == ob).all() and ra == rb and ta == tb
        if ta:
            break
    with pytest.raises(ValueError, match="invalid_action"):
        tg.RoutingEnv(builtin="tight-deadlines", invalid_action="ignore")


def test_same_seed_same_episode_and_seeds_follow_on():
    pick = lambda k, mask: int(np.flatnonzero(mask)[(7 * k + 1) % mask.sum()])
    env = tg.RoutingEnv(builtin="scarce-experts-surge", overrides={"run.horizon": "12h"})
    r1, i1 = run_episode(env, 4, pick)
    r2, i2 = run_episode(env, 4, pick)
    assert r1 == r2 and i1["summary"] == i2["summary"]
    r0, i0 = run_episode(env, 4, lambda k, mask: 0)
    assert r0 != r1, "the picks change the run"
    _, info = env.reset()
    assert info["seed"] == 5, "reset() without a seed runs the next one"


def test_the_youngest_candidates_give_a_one_stream_scenario_task_choices():
    # drifting-workforce has one stream: under "oldest" a free annotator has one candidate (no
    # decision surfaces); under "oldest-and-youngest" it chooses between the stream's oldest and
    # youngest waiting tasks, and taking the youngest (slot 1) changes the run.
    overrides = {"run.horizon": "12h"}
    picks = {}
    for rule in ("oldest", "oldest-and-youngest"):
        env = tg.RoutingEnv(builtin="drifting-workforce", overrides=overrides, candidates=rule)
        obs, info = env.reset(seed=5)
        kinds = []
        while True:
            kinds.append(info["picks"])
            slot = 1 if info["picks"] == "task" else 0
            obs, reward, terminated, truncated, info = env.step(slot)
            if terminated:
                break
        picks[rule] = kinds
    assert "task" not in picks["oldest"]
    assert picks["oldest-and-youngest"].count("task") > 10
    with pytest.raises(ValueError, match="candidates"):
        tg.RoutingEnv(builtin="drifting-workforce", candidates="newest")


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="no shipped scenario"):
        tg.RoutingEnv(builtin="no-such")
    with pytest.raises(ValueError, match="objective"):
        tg.RoutingEnv(builtin="qgym/n-model", objective="speed")
    with pytest.raises(ValueError, match="horizon"):
        tg.RoutingEnv(builtin="qgym/n-model", overrides={"run.horizon": "soon"})
    env = tg.RoutingEnv(builtin="qgym/n-model")
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
