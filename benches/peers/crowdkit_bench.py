#!/usr/bin/env python3
"""Time crowd-kit 1.4.2 DawidSkene / MajorityVote / Wawa on the shared crowd datasets.

Usage: benches/peers/.venv/bin/python benches/peers/crowdkit_bench.py [DATA_DIR] [--repeat N]
Prints one line per (dataset, method): best wall time of N runs (default 3), in seconds.
The synthetic 1M-answer dataset is timed with --synthetic (DS takes minutes there).
"""
import argparse
import os
import time
import warnings

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
from crowdkit.aggregation import DawidSkene, MajorityVote, Wawa  # noqa: E402


def synthetic(seed=42):
    rng = np.random.default_rng(seed)
    n_tasks, per, k, nw = 100_000, 10, 10, 2_000
    acc = rng.uniform(0.3, 0.95, nw)
    task = np.repeat(np.arange(n_tasks), per)
    worker = rng.integers(0, nw, n_tasks * per)
    truth = np.repeat(rng.integers(0, k, n_tasks), per)
    right = rng.random(n_tasks * per) < acc[worker]
    label = np.where(right, truth, (truth + rng.integers(1, k, n_tasks * per)) % k)
    return pd.DataFrame({"task": task, "worker": worker, "label": label})


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=os.path.join(here, "..", "..", "..", "shared", "data", "crowd"))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--synthetic", action="store_true")
    a = ap.parse_args()
    sets = []
    for d in ["d_product", "d_possent", "s_rel", "s_adult", "rte", "temp", "bluebirds"]:
        p = os.path.join(a.data, d, "labels.csv")
        if os.path.exists(p):
            sets.append((d, pd.read_csv(p, dtype={"task": str, "worker": str, "label": int})))
    if a.synthetic:
        sets.append(("synthetic_1m_10c", synthetic()))
    for name, df in sets:
        for m, make in [("ds", DawidSkene), ("mv", MajorityVote), ("wawa", Wawa)]:
            best = float("inf")
            for _ in range(a.repeat if name != "synthetic_1m_10c" else 1):
                t0 = time.perf_counter()
                make().fit_predict(df)
                best = min(best, time.perf_counter() - t0)
            print(f"{name:18s} {m:5s} {best:.4f}", flush=True)


if __name__ == "__main__":
    main()
