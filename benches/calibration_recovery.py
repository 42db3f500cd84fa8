#!/usr/bin/env python3
"""Recovery of every shipped scenario by `tessera calibrate`: simulate each scenario with a trace
for SEEDS seeds, fit it back against itself as --base, and compare every fitted scalar with the
value the scenario states. Writes a Markdown table per scenario (true value, the median fitted
value over the seeds, the largest error, how many seeds' 95% intervals cover the truth) and the
keys the fit declares not identified.

    python3 benches/calibration_recovery.py [--seeds 20] [--first-seed 1] [--jobs N] [--keep DIR] \
        [--tessera target/release/tessera] [--out calibrate/RECOVERY.md]

Seeds run --jobs at a time (default: the machine's cores); the table is the same at any count.
--first-seed runs a fresh set (seeds K to K + SEEDS - 1): whether a short count is the fit's or
the draw of seeds 1 to 50.

A fitted value is compared only where the scenario states one at the same path (a family the fit
chose other than the scenario's is listed as such); Beta accuracies compare their mean; pools
without a stated value take the schema's default (speed_sigma 0, no walk-aways).
"""
import argparse
import concurrent.futures
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def seconds(v):
    if isinstance(v, (int, float)):
        return float(v)
    m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([a-z]+)\s*", v)
    if not m or m.group(2) not in UNITS:
        raise ValueError(f"not a duration: {v!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def find(items, name):
    for x in items:
        if x.get("name") == name:
            return x
    return None


def truth(scn, path):
    """The scenario's own value at a fitted path, or (None, why)."""
    parts = path.split(".")
    if parts[0] == "quality":
        node, rest = scn, parts
    elif parts[0] == "models" and len(parts) >= 3:
        node = find(scn.get("models", []), parts[1])
        if node is None:
            return None, "not in the scenario"
        rest = parts[2:]
        defaults = {"speedup": 2.0, "confidence_concentration": 10.0, "automation_bias": 0.0, "latency": 1.0}
        if len(rest) == 1 and rest[0] not in node and rest[0] in defaults:
            return defaults[rest[0]], None
    elif parts[0] in ("streams", "pools") and len(parts) >= 3:
        node = find(scn.get(parts[0], []), parts[1])
        if node is None:
            return None, "not in the scenario"
        rest = parts[2:]
    else:
        return None, "not compared"
    if rest[0] in ("learning", "fatigue") and rest[0] not in node:
        if rest[-1] in ("speedup", "slowdown_per_hour"):
            return 0.0, None
        return None, f"no {rest[0]} in the scenario"
    if rest[0] == "shifts":
        return None, "shifts: compared by eye"
    if rest[0] == "abandonment" and rest[-1] == "timeout":
        return seconds(node.get("abandonment", {}).get("timeout", "0s")), None
    if rest == ["speed_sigma"]:
        return float(node.get("speed_sigma", 0.0)), None
    if rest == ["count"]:
        return float(node.get("count", 1)), None
    if rest[:2] == ["abandonment", "probability"]:
        return float(node.get("abandonment", {}).get("probability", 0.0)), None
    if rest[0] == "accuracy" and rest[-1] == "mean":
        acc = node.get("accuracy", {"one_coin": {"mean": 0.9}})
        inner = acc.get("one_coin") or acc.get("confusion", {}).get("diagonal")
        if inner is None:
            return None, "accuracy per task type in the scenario"
        if "mean" in inner:
            return float(inner["mean"]), None
        if "beta" in inner:
            a, b = inner["beta"]
            return a / (a + b), None
        return None, "accuracy law not compared"
    cur = node
    for i, key in enumerate(rest):
        if not isinstance(cur, dict) or key not in cur:
            where = ".".join(rest[:i])
            have = list(cur.keys()) if isinstance(cur, dict) else cur
            return None, f"the scenario's {where or 'value'} is {have}"
        cur = cur[key]
    if isinstance(cur, str):
        return seconds(cur), None
    if isinstance(cur, (int, float)):
        return float(cur), None
    return None, "not a scalar"


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[-400:]}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1, metavar="K", help="the seeds are K to K + SEEDS - 1 [default: 1]")
    ap.add_argument("--tessera", default="target/release/tessera")
    ap.add_argument("--scenarios", default="scenarios")
    ap.add_argument("--out", default="calibrate/RECOVERY.md")
    ap.add_argument("--only", action="append", help="a scenario's name (repeatable); default every one")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="seeds run at a time [default: the cores]")
    ap.add_argument("--keep", metavar="DIR", help="keep each seed's side file as DIR/SCENARIO/SEED.calibration.json (to see which seeds an interval missed)")
    a = ap.parse_args()
    files = sorted(f for f in os.listdir(a.scenarios) if f.endswith(".toml") and f != "Cargo.toml" and (not a.only or f[:-5] in a.only))
    out = [
        "# Calibration recovery on the shipped scenarios",
        "",
        f"Each scenario simulated with a trace for {a.seeds} seeds ({a.first_seed} to {a.first_seed + a.seeds - 1}) and fitted back with itself as `--base`",
        f"(`python3 benches/calibration_recovery.py --seeds {a.seeds}{'' if a.first_seed == 1 else f' --first-seed {a.first_seed}'}{''.join(f' --only {o}' for o in a.only or [])}`). Per fitted scalar: the scenario's value,",
        "the median fit, the largest error over the seeds (relative for rates and scales, absolute for",
        "probabilities and spreads), and in how many seeds the 95% interval covers the truth. A fit whose",
        "family differs from the scenario's is listed with the scenario's law. Then the keys declared not",
        "identified (reasons in each side file).",
        "",
    ]
    for f in files:
        path = os.path.join(a.scenarios, f)
        with open(path, "rb") as fh:
            scn = tomllib.load(fh)
        name = f[:-5]
        rows = {}
        declared = {}
        started = time.time()
        with tempfile.TemporaryDirectory() as tmp:

            def fit(seed):
                d = os.path.join(tmp, str(seed))
                run([a.tessera, "simulate", path, "--trace", "--tasks", "none", "-q", "--seed", str(seed), "--out", d])
                run([a.tessera, "calibrate", os.path.join(d, "events.jsonl"), "--base", path, "-q"])
                os.remove(os.path.join(d, "events.jsonl"))
                side = os.path.join(d, "fitted.calibration.json")
                if a.keep:
                    os.makedirs(os.path.join(a.keep, name), exist_ok=True)
                    shutil.copy(side, os.path.join(a.keep, name, f"{seed}.calibration.json"))
                with open(side) as fh:
                    return json.load(fh)

            with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
                sides = list(pool.map(fit, range(a.first_seed, a.first_seed + a.seeds)))
            for side in sides:
                for k, why in side["not_identified"].items():
                    declared.setdefault(k, why)
                for p, v in side["fitted"].items():
                    est = v.get("estimate")
                    if not isinstance(est, (int, float)):
                        continue
                    ci = v.get("interval_95")
                    rows.setdefault(p, []).append((float(est), ci, v.get("unit", "")))
        print(f"{name}: {len(rows)} fitted scalars, {time.time() - started:.0f} s", file=sys.stderr)
        out += [f"## {name}", "", "| parameter | true | fitted (median) | largest error | 95% interval covers |", "|---|---|---|---|---|"]
        for p in sorted(rows):
            vals = rows[p]
            t, why = truth(scn, p)
            med = statistics.median(v[0] for v in vals)
            if t is None:
                out.append(f"| `{p}` | — ({why}) | {med:.4g} | | |")
                continue
            relative = not (p.endswith(("probability", "sigma", ".automation_bias", ".asymptote")) or p.endswith(".mean") and ".accuracy." in p or p.startswith("models.") and p.endswith(".accuracy"))
            errs = [abs(v[0] - t) / t if relative and t else abs(v[0] - t) for v in vals]
            err = f"{max(errs) * 100:.1f}%" if relative and t else f"{max(errs):.4f}"
            with_ci = [v for v in vals if isinstance(v[1], list) and len(v[1]) == 2 and all(isinstance(x, (int, float)) for x in v[1])]
            cover = f"{sum(lo <= t <= hi for _, (lo, hi), _ in with_ci)}/{len(with_ci)}" if with_ci else "no interval"
            out.append(f"| `{p}` | {t:.4g} | {med:.4g} | {err} | {cover} |")
        out += ["", "Not identified: " + ", ".join(f"`{k}`" for k in sorted(declared)) + ".", ""]
    with open(a.out, "w") as fh:
        fh.write("\n".join(out))
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
