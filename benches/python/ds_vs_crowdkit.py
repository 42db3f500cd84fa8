#!/usr/bin/env python3
"""tessera.aggregation.DawidSkene against crowd-kit 1.4.2's in the same Python process, end to end.

Usage (after scripts/test.sh, or benches/peers/setup.sh and a wheel installed into that environment):
    benches/peers/.venv/bin/python benches/python/ds_vs_crowdkit.py [DATA_DIR] [--repeat N] [--ours M]

For each dataset of DATA_DIR (default ../shared/data/crowd): the answers are read once with
pandas, then each library's `DawidSkene().fit(df)` is timed from the DataFrame to the fitted
DataFrames (tessera: factorize to codes, the Rust fit, and building labels_, probas_, priors_ and
errors_ are all inside the time). crowd-kit: best of N (default 2) fits; tessera: best of M
(default 10). Checks that the labels are the same task by task and prints a markdown table.
A benchmark, not a test: the ratio moves with the machine's load.
"""
import argparse
import os
import time
import warnings

import pandas as pd

warnings.filterwarnings("ignore")
import crowdkit.aggregation as ck  # noqa: E402

import tessera.aggregation as ts  # noqa: E402


def best(fit, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - t0)
    return min(times), model


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=os.path.join(here, "..", "..", "..", "shared", "data", "crowd"))
    ap.add_argument("--repeat", type=int, default=2, help="crowd-kit fits per dataset (best is kept)")
    ap.add_argument("--ours", type=int, default=10, help="tessera fits per dataset (best is kept)")
    a = ap.parse_args()
    names = sorted(d for d in os.listdir(a.data) if os.path.isfile(os.path.join(a.data, d, "labels.csv")))
    print(f"load average {os.getloadavg()[0]:.1f}; crowd-kit best of {a.repeat}, tessera best of {a.ours}")
    print()
    print("| dataset | answers | crowd-kit DS [s] | tessera.aggregation DS [s] | ratio | iterations | same labels |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name in names:
        df = pd.read_csv(os.path.join(a.data, name, "labels.csv"), dtype={"task": str, "worker": str, "label": int})
        t_ck, m_ck = best(lambda: ck.DawidSkene().fit(df), a.repeat)
        t_ts, m_ts = best(lambda: ts.DawidSkene().fit(df), a.ours)
        same = m_ts.labels_.index.equals(m_ck.labels_.index) and (m_ts.labels_ == m_ck.labels_).all()
        print(f"| {name} | {len(df):,} | {t_ck:.3f} | {t_ts:.4f} | {t_ck / t_ts:.0f}x | {len(m_ts.loss_history_)} | {'yes' if same else 'NO'} |")


if __name__ == "__main__":
    main()
