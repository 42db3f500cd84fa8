#!/usr/bin/env python3
"""Run crowd-kit 1.4.2 on every dataset in the shared crowd folder and write its labels.

Usage:
    benches/peers/.venv/bin/python benches/peers/crowdkit_labels.py OUT_DIR [DATA_DIR] [--methods mv,wawa,ds,...]

Writes OUT_DIR/<dataset>/<method>.csv with columns `task,label` (crowd-kit's final label per task)
and OUT_DIR/summary.json with the accuracy over tasks with truth, iterations and seconds per
(dataset, method). The Rust test `tests/crowd_datasets.rs` reads these files when the environment
variable TESSERA_CROWDKIT_REF points at OUT_DIR, and asserts label identity task by task.

Methods: mv, wawa, ds, ds-golden (DS with the first half of gt.csv's rows as golden labels),
ds100 (tol=0), one-coin-ds, zbs, gold-mv (skills from gt), glad, mace, kos
(binary datasets only), mmsr (skipped on datasets with more than 200 workers: crowd-kit's O(W^2 T)
construction takes hours there).
"""
import argparse
import json
import os
import sys
import time
import warnings

import pandas as pd

warnings.filterwarnings("ignore")

from crowdkit.aggregation import (  # noqa: E402
    GLAD,
    KOS,
    MACE,
    MMSR,
    DawidSkene,
    GoldMajorityVote,
    MajorityVote,
    OneCoinDawidSkene,
    Wawa,
    ZeroBasedSkill,
)

ALL = ["mv", "wawa", "ds", "ds-golden", "ds100", "one-coin-ds", "zbs", "gold-mv", "glad", "mace", "kos", "mmsr"]


def load(folder):
    df = pd.read_csv(os.path.join(folder, "labels.csv"), dtype={"task": str, "worker": str, "label": int})
    gt = pd.read_csv(os.path.join(folder, "gt.csv"), dtype={"task": str, "label": int})
    gt = gt.set_index("task")["label"]
    return df, gt


def run(method, df, gt):
    iters = None
    if method == "mv":
        labels = MajorityVote().fit_predict(df)
    elif method == "wawa":
        labels = Wawa().fit_predict(df)
    elif method in ("ds", "ds100"):
        m = DawidSkene(n_iter=100, tol=0.0 if method == "ds100" else 1e-5)
        labels = m.fit_predict(df)
        iters = len(m.loss_history_)
    elif method == "ds-golden":
        # golden labels: the first half of gt.csv's rows, in file order
        m = DawidSkene()
        labels = m.fit_predict(df, gt.iloc[: len(gt) // 2])
        iters = len(m.loss_history_)
    elif method == "one-coin-ds":
        m = OneCoinDawidSkene()
        labels = m.fit_predict(df)
        iters = len(m.loss_history_)
    elif method == "zbs":
        labels = ZeroBasedSkill().fit_predict(df)
    elif method == "gold-mv":
        labels = GoldMajorityVote().fit_predict(df, gt)
    elif method == "glad":
        m = GLAD()
        labels = m.fit_predict(df)
        iters = len(m.loss_history_)
    elif method == "mace":
        labels = MACE().fit_predict(df)
    elif method == "kos":
        if df.label.nunique() != 2:
            return None, None
        labels = KOS().fit_predict(df)
    elif method == "mmsr":
        if df.worker.nunique() > 200:
            return None, None
        labels = MMSR().fit_predict(df)
    else:
        raise ValueError(method)
    return labels, iters


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("data", nargs="?", default=os.path.join(here, "..", "..", "..", "shared", "data", "crowd"))
    ap.add_argument("--methods", default=",".join(ALL))
    ap.add_argument("--datasets", default="")
    a = ap.parse_args()
    methods = a.methods.split(",")
    datasets = sorted(d for d in os.listdir(a.data) if os.path.isfile(os.path.join(a.data, d, "labels.csv")))
    if a.datasets:
        datasets = [d for d in datasets if d in a.datasets.split(",")]
    summary_path = os.path.join(a.out, "summary.json")
    summary = json.load(open(summary_path)) if os.path.exists(summary_path) else {}
    for d in datasets:
        df, gt = load(os.path.join(a.data, d))
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
        for m in methods:
            t0 = time.perf_counter()
            try:
                labels, iters = run(m, df, gt)
            except Exception as e:  # record and go on: one broken method must not hide the others
                print(f"{d} {m}: FAILED {type(e).__name__}: {e}", file=sys.stderr)
                continue
            secs = time.perf_counter() - t0
            if labels is None:
                print(f"{d} {m}: skipped", file=sys.stderr)
                continue
            labels = labels.rename("label")
            labels.index.name = "task"
            labels.to_csv(os.path.join(a.out, d, f"{m}.csv"))
            common = gt.index.intersection(labels.index)
            acc = float((labels.loc[common].astype(int) == gt.loc[common]).mean())
            summary.setdefault(d, {})[m] = {"accuracy": acc, "iterations": iters, "seconds": secs}
            print(f"{d:10s} {m:12s} acc={acc:.4f} iters={iters} secs={secs:.3f}", file=sys.stderr, flush=True)
            json.dump(summary, open(summary_path, "w"), indent=1, sort_keys=True)


if __name__ == "__main__":
    main()
