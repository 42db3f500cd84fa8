"""tessera.simulate and tessera.bench against the command line on the same inputs: the same
summary, the same tasks.csv rows, the same leaderboard."""
import json
import os
import pathlib
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest

import tessera

from conftest import REQUIRE, ROOT

SCENARIO = ROOT / "scenarios" / "mmc.toml"
SHORT = {"run.horizon": "2d", "run.warmup": "2h"}


@pytest.fixture(scope="session")
def cli():
    """The tessera binary: TESSERA_BIN (scripts/test.sh sets it), else the release build of
    CARGO_TARGET_DIR or target/."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    exe = pathlib.Path(os.environ.get("TESSERA_BIN", target / "release" / "tessera"))
    if not exe.is_file():
        if REQUIRE:
            pytest.fail(f"no tessera binary at {exe} (TESSERA_REQUIRE_DATA=1: CI must not skip)")
        pytest.skip(f"no tessera binary at {exe}")
    return exe


def sets(overrides):
    return [a for k, v in overrides.items() for a in ("--set", f"{k}={v}")]


def test_simulate_equals_cli(cli, tmp_path):
    summary, tasks = tessera.simulate(SCENARIO, seed=7, replications=2, overrides=SHORT, tasks=True)
    subprocess.run([cli, "simulate", SCENARIO, "--seed", "7", "-r", "2", *sets(SHORT), "-o", tmp_path, "-q"], check=True)
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    want = pd.read_csv(tmp_path / "tasks.csv", dtype=tessera.sim._TASK_DTYPES)
    pd.testing.assert_frame_equal(tasks, want)
    assert summary["schema"] == "tessera.summary/2" and summary["replications"] == 2
    assert list(tasks.columns[:3]) == ["replication", "task", "stream"] and len(tasks) > 1000
    assert sorted(tasks.replication.unique()) == [0, 1]


def test_dict_scenario_equals_file():
    try:
        import tomllib  # Python >= 3.11 (CI's environment)
    except ModuleNotFoundError:
        tomllib = pytest.importorskip("tomli")
    as_dict = tomllib.loads(SCENARIO.read_text())
    a = tessera.simulate(as_dict, seed=3, overrides=SHORT)
    b = tessera.simulate(str(SCENARIO), seed=3, overrides=SHORT)
    assert a == b


def test_overrides_and_unset():
    base = tessera.simulate(SCENARIO, seed=1, overrides=SHORT)
    more = tessera.simulate(SCENARIO, seed=1, overrides={**SHORT, "pools.agents.count": 20})
    assert more != base
    # None removes a field (--unset): without warmup the statistics start at zero
    unset = tessera.simulate(SCENARIO, seed=1, overrides={"run.horizon": "2d", "run.warmup": None})
    assert unset != base
    assert tessera.simulate(SCENARIO, seed=1, overrides=SHORT) == base  # deterministic


def test_errors_name_the_field():
    with pytest.raises(ValueError, match="pools"):
        tessera.simulate(SCENARIO, overrides={"pools.agents.count": -3})
    with pytest.raises(ValueError, match="replications"):
        tessera.simulate(SCENARIO, replications=0)
    with pytest.raises(ValueError):
        tessera.simulate(ROOT / "no-such.toml")
    with pytest.raises(TypeError):
        tessera.simulate(SCENARIO, overrides={"run.horizon": object()})


def test_bench_equals_cli(cli, tmp_path):
    scen = [str(ROOT / "scenarios" / "bench" / "tight-deadlines.toml")]
    pols = ["fifo", "c-mu"]
    over = {"run.horizon": "12h"}
    board, streams = tessera.bench(scen, pols, seeds=2, overrides=over, streams=True)
    subprocess.run([cli, "bench", "--scenarios", scen[0], "--policies", ",".join(pols), "--seeds", "2", *sets(over), "-o", tmp_path, "-q"], check=True)
    pd.testing.assert_frame_equal(board, pd.read_csv(tmp_path / "leaderboard.csv"))
    pd.testing.assert_frame_equal(streams, pd.read_csv(tmp_path / "leaderboard-streams.csv"))
    # the same but for the reproducing command, where Python quotes its string overrides
    assert board.attrs["markdown"].replace('"12h"', "12h") == (tmp_path / "leaderboard.md").read_text()
    assert len(board) == 2


def test_bench_checks_its_arguments():
    with pytest.raises(ValueError, match="seeds"):
        tessera.bench(policies=["fifo"], seeds=0)
    with pytest.raises(ValueError, match="unknown policy"):
        tessera.bench(policies=["nope"], seeds=1)
    assert "fifo" in tessera.policies()


def test_version_and_help():
    assert tessera.__version__
    for f in (tessera.simulate, tessera.bench):
        assert "Returns" in f.__doc__


def test_bench_defaults_to_the_shipped_scenarios():
    board = tessera.bench(policies=["fifo"], seeds=1, overrides={"run.horizon": "1d", "run.warmup": "1h"})
    shipped = sorted((ROOT / "scenarios" / "bench").glob("*.toml")) + sorted((ROOT / "scenarios" / "bench" / "qgym").glob("*.toml"))
    assert len(board) == len(shipped) and (board.policy == "fifo").all()
