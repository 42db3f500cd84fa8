"""Train sb3-contrib's MaskablePPO on a Tessera routing environment and compare it with
first-come-first-served (slot 0) and with the scenario's best heuristics on held-out seeds.

Not run in CI (torch is large). Needs: the tessera wheel, and
    pip install "sb3-contrib>=2.4" "gymnasium>=1.0"

    python python/examples/maskable_ppo.py                      # N-model, holding cost
    python python/examples/maskable_ppo.py tessera/OverlappingSkills-v0 --steps 200000

The reward is the one ``tessera train`` uses, so the score printed here is the one ``tessera
bench --models`` reports for a policy trained there (per task: divide by the tasks of a run).
Training seeds are 0, 1, 2, ...; evaluation uses seeds from 1,000,000 on, which training never
sees.
"""

import argparse
import time

import gymnasium as gym
import numpy as np

import tessera
import tessera.gym  # registers the tessera/* environments


def evaluate(env, act, seeds):
    """Mean and standard error of the episode return of `act(obs, mask)` over `seeds`."""
    returns = []
    for s in seeds:
        obs, info = env.reset(seed=s)
        total, done = 0.0, False
        while not done:
            obs, r, done, _, info = env.step(act(obs, info["action_mask"]))
            total += r
        returns.append(total)
    r = np.array(returns)
    return r.mean(), r.std(ddof=1) / np.sqrt(len(r)) if len(r) > 1 else 0.0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("env", nargs="?", default="tessera/NModel-v0", help="a registered environment (tessera.gym.ENVIRONMENTS)")
    p.add_argument("--steps", type=int, default=100_000, help="training decisions (default 100,000)")
    p.add_argument("--eval-seeds", type=int, default=20, help="held-out episodes to score (default 20)")
    p.add_argument("--horizon", default=None, help="run.horizon override, e.g. 500h (default: the scenario's)")
    a = p.parse_args()

    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.wrappers import ActionMasker
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    overrides = {"run.horizon": a.horizon} if a.horizon else None

    def make():
        # Gymnasium's wrappers do not pass action_masks() through: ActionMasker does.
        return ActionMasker(gym.make(a.env, overrides=overrides), lambda e: e.unwrapped.action_masks())

    # Rewards are in USD (holding) or label units (composite), hundreds per step on busy
    # scenarios: VecNormalize scales them for the value function (observations are already logs
    # and shares).
    train_env = VecNormalize(DummyVecEnv([make]), norm_obs=False, norm_reward=True, gamma=0.999)
    model = MaskablePPO("MlpPolicy", train_env, gamma=0.999, n_steps=4096, batch_size=512, learning_rate=3e-4, ent_coef=0.01, seed=0, verbose=1)
    start = time.time()
    model.learn(total_timesteps=a.steps)
    print(f"trained {a.steps} decisions in {time.time() - start:.0f} s")

    seeds = range(1_000_000, 1_000_000 + a.eval_seeds)
    eval_env = gym.make(a.env, overrides=overrides)
    ppo = evaluate(eval_env, lambda obs, mask: int(model.predict(obs, action_masks=mask, deterministic=True)[0]), seeds)
    fifo = evaluate(eval_env, lambda obs, mask: 0, seeds)
    print(f"{a.env}, {a.eval_seeds} held-out seeds, return per episode (mean ± s.e.):")
    print(f"  MaskablePPO  {ppo[0]:+.2f} ± {ppo[1]:.2f}")
    print(f"  fifo         {fifo[0]:+.2f} ± {fifo[1]:.2f}  (slot 0 at every step)")
    if eval_env.unwrapped.objective == "holding":
        # The heuristics on the same seeds through tessera.simulate: minus the holding cost over the
        # run (the return also leaves out the minutes before the first decision with a choice).
        name, _ = tessera.gym.ENVIRONMENTS[a.env]
        scenario = tessera.gym.SCENARIOS[name]
        import tomllib  # Python 3.11+

        spec = tomllib.loads(scenario)
        if overrides:
            spec.setdefault("run", {})["horizon"] = a.horizon
        h = {s["name"]: s.get("holding_cost", 0.0) for s in spec["streams"]}
        for policy in ("max-weight", "c-mu"):
            spec.setdefault("routing", {})["policy"] = policy
            costs = []
            for s in seeds:
                run = tessera.simulate(spec, seed=s, replications=1)["runs"][0]
                hours = run["window_end_h"] - run["window_start_h"]
                costs.append(-sum(h[k] * f["tasks_in_system_mean"] * hours for k, f in run["streams"].items()))
            c = np.array(costs)
            print(f"  {policy:<12} {c.mean():+.2f} ± {c.std(ddof=1) / np.sqrt(len(c)):.2f}  (tessera.simulate)")
    print("Every heuristic on the bench scenarios: tessera bench (benches/LEADERBOARD.md).")


if __name__ == "__main__":
    main()
