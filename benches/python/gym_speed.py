#!/usr/bin/env python3
"""tessera.gym's step rate from Python, beside Gymnasium's CartPole-v1 in the same process.

Usage (a wheel and gymnasium installed):
    python benches/python/gym_speed.py [--episodes N]

For each environment: whole episodes at the scenario's own horizon, the agent taking slot 0
(fifo) or a uniformly random valid slot, timed from reset to the last step (the simulation, the
thread hand-over, numpy arrays and the info dict all inside). CartPole-v1 (pure Python, the
cheapest well-known environment) with random actions is the reference for what a Python step
costs at all. Prints a markdown table. A benchmark, not a test.
"""
import argparse
import time

import gymnasium as gym
import numpy as np

import tessera.gym  # noqa: F401


def rate(env, pick, episodes, seed=1):
    steps, t0 = 0, time.perf_counter()
    for e in range(episodes):
        _, info = env.reset(seed=seed + e)
        done = False
        while not done:
            _, _, done, trunc, info = env.step(pick(info))
            done = done or trunc
            steps += 1
    return steps, time.perf_counter() - t0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=3)
    a = p.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    for env_id in ["tessera/NModel-v0", "tessera/OverlappingSkills-v0", "tessera/TightDeadlines-v0"]:
        env = gym.make(env_id).unwrapped
        for name, pick in [("slot 0 (fifo)", lambda info: 0), ("random valid slot", lambda info: int(rng.choice(np.flatnonzero(info["action_mask"]))))]:
            n, s = rate(env, pick, a.episodes)
            rows.append((env_id, name, n, s))
        env.close()
    cart = gym.make("CartPole-v1").unwrapped
    cart.action_space.seed(0)
    n, t0 = 0, time.perf_counter()
    cart.reset(seed=0)
    while n < 200_000:
        _, _, done, trunc, _ = cart.step(cart.action_space.sample())
        n += 1
        if done or trunc:
            cart.reset()
    rows.append(("CartPole-v1 (Gymnasium)", "random action", n, time.perf_counter() - t0))
    print("| environment | agent | steps | seconds | steps/s | µs/step |")
    print("|---|---|---:|---:|---:|---:|")
    for env_id, name, n, s in rows:
        print(f"| {env_id} | {name} | {n:,} | {s:.2f} | {n / s:,.0f} | {1e6 * s / n:.0f} |")


if __name__ == "__main__":
    main()
