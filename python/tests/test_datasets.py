"""On every shared crowd dataset: the same labels as crowd-kit 1.4.2 task by task, and the same
fitted DataFrames (index names and order, columns, dtypes; values to 1e-6 relative), for MV, Wawa,
DS (with and without golden labels), OneCoinDS and ZBS."""
import numpy as np
import pandas as pd
import pytest

import tessera.aggregation as T

from conftest import DATA, _missing, datasets, load

# name -> (fit on crowd-kit's module or tessera.aggregation, with the data and golden labels)
METHODS = {
    "mv": lambda m, df, gt: m.MajorityVote().fit(df),
    "wawa": lambda m, df, gt: _predicted(m.Wawa(), df),
    "zbs": lambda m, df, gt: _predicted(m.ZeroBasedSkill(), df),
    "ds": lambda m, df, gt: m.DawidSkene().fit(df),
    "ds-golden": lambda m, df, gt: m.DawidSkene().fit(df, gt.iloc[: len(gt) // 2]),
    "one-coin-ds": lambda m, df, gt: m.OneCoinDawidSkene().fit(df),
}


def _predicted(model, df):
    model.fit(df)
    model.predict_proba(df)
    return model


def test_datasets_are_there():
    if not datasets():
        _missing(f"no crowd datasets at {DATA}")
    assert len(datasets()) >= 7, datasets()


def assert_same(ours, theirs, name):
    """Fitted attributes equal: Series and DataFrames with pandas' checks (names, index, dtypes,
    order), floats to 1e-6 relative; lists of floats (loss_history_) likewise."""
    assert sorted(theirs) == sorted(a for a in theirs if hasattr(ours, a)), f"{name}: missing {set(theirs) - set(vars(ours))}"
    for attr, want in theirs.items():
        got = getattr(ours, attr)
        where = f"{name}.{attr}"
        if isinstance(want, pd.DataFrame):
            pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-6, atol=1e-9, obj=where)
        elif isinstance(want, pd.Series):
            exact = attr == "labels_"
            pd.testing.assert_series_equal(got, want, check_exact=exact, rtol=1e-6, atol=1e-9, obj=where)
        elif isinstance(want, list):
            assert len(got) == len(want), f"{where}: {len(got)} iterations, crowd-kit {len(want)}"
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=where)
        else:
            raise AssertionError(f"{where}: unexpected type {type(want)}")


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("dataset", datasets() or ["(none)"])
def test_same_as_crowdkit(dataset, method, reference):
    if dataset == "(none)":
        _missing(f"no crowd datasets at {DATA}")
    df, gt = load(dataset)
    fit = METHODS[method]
    theirs = reference(dataset, method, lambda ck: fit(ck, df, gt))
    ours = fit(T, df, gt)
    # labels first, task by task, with a readable message
    want, got = theirs["labels_"], ours.labels_
    assert got.index.equals(want.index), f"{dataset}/{method}: tasks differ"
    differ = (got != want).to_numpy().nonzero()[0]
    assert len(differ) == 0, f"{dataset}/{method}: {len(differ)} of {len(want)} labels differ, e.g. task {want.index[differ[0]]}: {got.iloc[differ[0]]} vs crowd-kit {want.iloc[differ[0]]}"
    assert_same(ours, theirs, f"{dataset}/{method}")
