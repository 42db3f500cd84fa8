#!/usr/bin/env python3
"""Cochran's Q of medical-imaging's radiologists' speeds, from the raw traces under the TRUE model:
is a short coverage of `pools.radiologists.speed_sigma` (true 0) the fit's fault or the seeds' draw?

For each seed: simulate `scenarios/medical-imaging.toml` with a trace, take every radiologist's
cxr-screening read (lease to label), divide its time by the scenario's own fatigue factor
(1 + slowdown_per_hour × hours on shift when the read was handed out; radiologists do not learn),
and test whether the three people's mean ln times differ: Q = Σ n_i (ȳ_i − ȳ)² / s², against χ²
with 2 degrees of freedom (upper tail e^(−Q/2)). Nothing fitted enters, so under the scenario Q's
p-values are uniform; the fit's interval misses 0 where Q's p < 0.025.

    python3 benches/radiologists_q.py [--first-seed 101] [--seeds 200] [--tessera target/release/tessera]

Prints each seed's Q and p, then how many p fall below 0.025, 0.05, 0.1 and 0.5.
"""
import argparse
import collections
import json
import math
import os
import subprocess
import tempfile
import tomllib

SCENARIO = "scenarios/medical-imaging.toml"


def q_of(events, slowdown):
    shift, start, logs = {}, {}, collections.defaultdict(list)
    with open(events) as fh:
        for line in fh:
            if "radiologists/" not in line:
                continue
            e = json.loads(line)
            who, ev = e["annotator"], e["event"]
            if ev == "on_shift":
                shift[who] = e["t_us"]
            elif ev == "assign":
                start[e["assignment"]] = (e["t_us"], e["task_type"])
            elif ev == "label":
                t0, task_type = start.pop(e["assignment"])
                if task_type != "cxr-screening":
                    continue
                hours = (t0 - shift[who]) / 3.6e9
                logs[who].append(math.log((e["t_us"] - t0) / 1e6) - math.log(1 + slowdown * hours))
    means = {w: sum(v) / len(v) for w, v in logs.items()}
    n = sum(len(v) for v in logs.values())
    s2 = sum((x - means[w]) ** 2 for w, v in logs.items() for x in v) / n
    grand = sum(len(v) * means[w] for w, v in logs.items()) / n
    q = sum(len(v) * (means[w] - grand) ** 2 for w, v in logs.items()) / s2
    assert len(logs) == 3, "medical-imaging has three radiologists"
    return q, math.exp(-q / 2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--first-seed", type=int, default=101)
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--tessera", default="target/release/tessera")
    a = ap.parse_args()
    with open(SCENARIO, "rb") as fh:
        pools = {p["name"]: p for p in tomllib.load(fh)["pools"]}
    slowdown = pools["radiologists"]["fatigue"]["slowdown_per_hour"]
    ps = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            d = os.path.join(tmp, str(seed))
            subprocess.run([a.tessera, "simulate", SCENARIO, "--trace", "--tasks", "none", "-q", "--seed", str(seed), "--out", d], check=True, stdout=subprocess.DEVNULL)
            q, p = q_of(os.path.join(d, "events.jsonl"), slowdown)
            subprocess.run(["rm", "-rf", d], check=True)
            ps.append(p)
            print(f"seed {seed}: Q {q:.2f}, p {p:.4f}", flush=True)
    below = ", ".join(f"{sum(p < x for p in ps)} below {x}" for x in (0.025, 0.05, 0.1, 0.5))
    print(f"{len(ps)} seeds: {below}")


if __name__ == "__main__":
    main()
