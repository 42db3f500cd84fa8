"""M/M/c in SimPy, the same model as tessera-benches' kernel_mmc (λ = 200/h, 1/μ = 3 min, c = 14).

Prints one JSON line: customers served, SimPy events processed, best-of-5 seconds, tasks/s and
events/s. Events are counted in a separate, identical run with a counting Environment, so the
timed run carries no instrumentation.
Usage: python simpy_mmc.py [customers]
"""
import json
import random
import sys
import time

import simpy

LAM = 200 / 3600.0  # arrivals per second
MEAN = 180.0        # seconds
C = 14


def model(env, servers, rng, horizon, served):
    def customer():
        with servers.request() as req:
            yield req
            yield env.timeout(rng.expovariate(1.0 / MEAN))
        served[0] += 1

    def source():
        while True:
            yield env.timeout(rng.expovariate(LAM))
            env.process(customer())

    env.process(source())
    env.run(until=horizon)


class CountingEnv(simpy.Environment):
    def __init__(self):
        super().__init__()
        self.events = 0

    def step(self):
        self.events += 1
        return super().step()


def run(customers, env_cls=simpy.Environment):
    env = env_cls()
    served = [0]
    model(env, simpy.Resource(env, capacity=C), random.Random(1), customers / LAM, served)
    return env, served[0]


def main():
    customers = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        _, served = run(customers)
        best = min(best, time.perf_counter() - t)
    env, _ = run(customers, CountingEnv)
    print(json.dumps({
        "model": "simpy-" + simpy.__version__,
        "customers": served,
        "events": env.events,
        "seconds": round(best, 4),
        "tasks_per_s": round(served / best),
        "events_per_s": round(env.events / best),
    }))


if __name__ == "__main__":
    main()
