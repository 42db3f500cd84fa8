"""Shared fixtures: the crowd datasets, crowd-kit (the reference) and its cached outputs.

TESSERA_CROWD_DATA: the folder of datasets (default ../shared/data/crowd beside the checkout).
TESSERA_REQUIRE_DATA=1 (set by .ci/run): a missing dataset folder or a missing crowd-kit is an
error, not a skip. crowd-kit's outputs on the big datasets take minutes, so they are pickled once
under TESSERA_CROWDKIT_REF/frames (scripts/test.sh sets it) or pytest's cache, keyed by the
crowd-kit and pandas versions.
"""
import os
import pathlib
import pickle
import warnings

import pandas as pd
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = pathlib.Path(os.environ.get("TESSERA_CROWD_DATA", ROOT.parent / "shared" / "data" / "crowd"))
REQUIRE = os.environ.get("TESSERA_REQUIRE_DATA") == "1"


def datasets():
    if not DATA.is_dir():
        return []
    return sorted(d.name for d in DATA.iterdir() if (d / "labels.csv").is_file())


def _missing(what):
    if REQUIRE:
        pytest.fail(f"{what} (TESSERA_REQUIRE_DATA=1: CI must not skip)")
    pytest.skip(what)


@pytest.fixture(scope="session")
def crowdkit():
    try:
        import crowdkit.aggregation as ck
    except ImportError:
        _missing("crowd-kit is not installed (benches/peers/setup.sh makes the environment)")
    return ck


def load(name):
    """A dataset as crowdkit_labels.py reads it: string task and worker ids, integer labels;
    golden labels: the first half of gt.csv's rows, in file order."""
    folder = DATA / name
    df = pd.read_csv(folder / "labels.csv", dtype={"task": str, "worker": str, "label": int})
    gt = pd.read_csv(folder / "gt.csv", dtype={"task": str, "label": int}).set_index("task")["label"]
    return df, gt


@pytest.fixture(scope="session")
def frames_dir(request, crowdkit):
    import crowdkit as ck_pkg

    version = f"crowdkit-{getattr(ck_pkg, '__version__', 'x')}-pandas-{pd.__version__}"
    ref = os.environ.get("TESSERA_CROWDKIT_REF")
    base = pathlib.Path(ref) / "frames" if ref else request.config.cache.mkdir("crowdkit-frames")
    d = base / version
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="session")
def reference(frames_dir, crowdkit):
    """reference(dataset, key, fit) -> crowd-kit's fitted attributes, computed once and cached."""

    def get(dataset, key, fit):
        path = frames_dir / f"{dataset}-{key}.pkl"
        if path.exists():
            with open(path, "rb") as f:
                return pickle.load(f)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = fit(crowdkit)
        attrs = {a: v for a, v in vars(model).items() if a.endswith("_") and not a.startswith("_")}
        tmp = path.with_suffix(".tmp")
        with open(tmp, "wb") as f:
            pickle.dump(attrs, f)
        tmp.replace(path)
        return attrs

    return get
