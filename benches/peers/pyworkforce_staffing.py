"""pyworkforce 0.5.1 side by side with `tessera staffing` (tests/staffing_cli.rs compares them).

Runs pyworkforce's ErlangC on the golden staffing cases and its MinRequiredResources (OR-Tools
CP-SAT) on the scheduling instances of benches/peers/staffing/, reading the same CSV files that
`tessera staffing --demand ... --shifts ...` reads, and prints one JSON object:

  {"erlang_c": [{"case", "raw_positions", "positions", "service_level", "occupancy",
                 "waiting_probability"}, ...],
   "at_agents": [{"case", "agents", "waiting_probability", "service_level"}, ...],
   "schedules": [{"demand", "shifts", "required": [...per interval...], "raw_positions": [...],
                  "status", "cost",
                  "resources": [{"day", "shift", "resources"}, ...]}, ...]}

Usage: benches/peers/.venv/bin/python benches/peers/pyworkforce_staffing.py [DIR]
(DIR defaults to benches/peers/staffing). The translation of Tessera's files into pyworkforce's
model: the demand is one stream on a grid of equal intervals that divides a day; a count row is
turned into agents by ErlangC(transactions=count, aht=3 min, asa=20 s, interval, shrinkage=0.3)
.required_positions(service_level=0.8, max_occupancy=0.85)["positions"], the parameters the test
gives `tessera staffing`; each (shift pattern, start time) is one pyworkforce shift whose
coverage array marks the periods its working time (span minus break) contains, within the day
(patterns running past midnight are refused); both concurrency limits are set loose (10^6).

One known difference: pyworkforce rounds the rostered headcount up with a float ceil, so
21 agents at shrinkage 0.3 give ceil(21 / 0.7) = ceil(30.000000000000004) = 31 where Tessera says
30 (= 21 / 0.7 exactly). "raw_positions" (agents at work) lets a reader tell that case apart.
"""
import csv
import json
import math
import os
import sys

from pyworkforce.queuing import ErlangC
from pyworkforce.scheduling import MinRequiredResources

HANDLING_MIN, ASA_MIN, SHRINKAGE, SL, OCC = 3.0, 20.0 / 60.0, 0.3, 0.8, 0.85


def minutes(text):
    """'8h', '30min', '5h' -> minutes (the units these files use)."""
    t = text.strip()
    for unit, scale in (("min", 1.0), ("h", 60.0), ("s", 1.0 / 60.0)):
        if t.endswith(unit):
            return float(t[: -len(unit)]) * scale
    raise ValueError(f"duration without a unit this script reads: {text!r}")


def read_demand(path):
    rows = list(csv.DictReader(open(path)))
    streams = {r["stream"] for r in rows}
    assert len(streams) == 1, "one stream per instance"
    starts = sorted(minutes(r["start"]) for r in rows)
    step = starts[1] - starts[0]
    assert all(abs(b - a - step) < 1e-9 for a, b in zip(starts, starts[1:])), "equal intervals"
    assert (24 * 60) % step == 0 and starts[0] == 0 and len(starts) % round(24 * 60 / step) == 0
    by_start = {minutes(r["start"]): r for r in rows}
    periods = round(24 * 60 / step)
    required, raw = [], []
    for s in starts:
        r = by_start[s]
        if "required" in r:
            required.append(int(r["required"]))
            raw.append(None)
        elif float(r["count"]) == 0:
            required.append(0)
            raw.append(0)
        else:
            e = ErlangC(transactions=float(r["count"]), aht=HANDLING_MIN, asa=ASA_MIN, interval=step, shrinkage=SHRINKAGE)
            res = e.required_positions(service_level=SL, max_occupancy=OCC)
            required.append(int(res["positions"]))
            raw.append(int(res["raw_positions"]))
    days = len(starts) // periods
    return step, periods, days, required, raw


def read_shifts(path, step, periods):
    coverage, cost = {}, {}
    for r in csv.DictReader(open(path)):
        assert r.get("days", "all") in ("", "all"), "these instances use every day"
        length = minutes(r["length"])
        brk = (minutes(r["break_start"]), minutes(r["break_length"])) if r.get("break_start") else None
        for st in r["start"].replace(";", " ").split():
            h, m = st.split(":")
            start = int(h) * 60 + int(m)
            assert start + length <= 24 * 60, "pyworkforce's shifts stay within a day"
            segs = [(start, start + length)] if brk is None else [(start, start + brk[0]), (start + brk[0] + brk[1], start + length)]
            arr = [1 if any(a <= p * step and (p + 1) * step <= b for a, b in segs) else 0 for p in range(periods)]
            name = r["name"] if len(r["start"].split()) == 1 else f"{r['name']}@{st}"
            coverage[name] = arr
            cost[name] = int(float(r.get("cost") or 1))
    return coverage, cost


def schedule(dir_, demand, shifts):
    step, periods, days, required, raw = read_demand(os.path.join(dir_, demand))
    coverage, cost = read_shifts(os.path.join(dir_, shifts), step, periods)
    grid = [required[d * periods:(d + 1) * periods] for d in range(days)]
    s = MinRequiredResources(num_days=days, periods=periods, shifts_coverage=coverage, required_resources=grid,
                             cost_dict=cost, max_period_concurrency=10**6, max_shift_concurrency=10**6,
                             max_search_time=120.0, num_search_workers=2)
    sol = s.solve()
    return {"demand": demand, "shifts": shifts, "required": required, "raw_positions": raw, "status": sol["status"], "cost": sol["cost"],
            "resources": sol["resources_shifts"]}


def main():
    dir_ = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "staffing")
    cases = []
    for name, tx, interval, aht, occ in (("200/h, 3 min, cap 0.85", 100, 30, 3, 0.85), ("200/h, 3 min, cap 0.7", 100, 30, 3, 0.7)):
        e = ErlangC(transactions=tx, aht=aht, asa=ASA_MIN, interval=interval, shrinkage=SHRINKAGE)
        r = e.required_positions(service_level=SL, max_occupancy=occ)
        cases.append({"case": name, **r})
    at = []
    for name, tx, aht, n in (("200/h, 3 min", 200, 3, 14), ("1000/h, 2 min", 1000, 2, 40)):
        e = ErlangC(transactions=tx, aht=aht, asa=ASA_MIN, interval=60)
        at.append({"case": name, "agents": n, "waiting_probability": e.waiting_probability(n), "service_level": e.service_level(n)})
    schedules = [schedule(dir_, d, s) for d, s in (("demand.csv", "shifts.csv"), ("demand.csv", "shifts_breaks.csv"),
                                                   ("required.csv", "shifts.csv"), ("required.csv", "shifts_unit_cost.csv"),
                                                   ("required.csv", "shifts_breaks.csv"))]
    print(json.dumps({"erlang_c": cases, "at_agents": at, "schedules": schedules}))


if __name__ == "__main__":
    main()
