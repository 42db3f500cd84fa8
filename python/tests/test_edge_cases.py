"""crowd-kit's edge cases, each compared with crowd-kit itself on the same data: ties, a single
worker, a single task, string and integer ids, duplicate answers, unused categories, skills for
new data, missing skills, golden labels for unknown tasks, empty data."""
import warnings

import numpy as np
import pandas as pd
import pytest

import tessera.aggregation as T

from test_datasets import assert_same

EXACT = ["MajorityVote", "Wawa", "ZeroBasedSkill", "DawidSkene", "OneCoinDawidSkene"]


def frame(rows):
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


CASES = {
    # task 1: 1-1 tie between 2 and 1 -> 1 (the lowest); task 2: 1-1 tie -> 1
    "ties": frame([(1, 1, 2), (1, 2, 1), (2, 1, 1), (2, 2, 2)]),
    "string labels with a tie": frame([("a", "x", "cat"), ("a", "y", "dog"), ("b", "x", "dog"), ("b", "z", "dog"), ("c", "y", "bird")]),
    "single worker": frame([(1, "w", 0), (2, "w", 1), (3, "w", 1)]),
    "single task": frame([("t", "a", 1), ("t", "b", 0), ("t", "c", 1)]),
    "single answer": frame([("t", "a", 1)]),
    "duplicate answers": frame([("t1", "a", 1), ("t1", "a", 1), ("t1", "b", 0), ("t2", "b", 0), ("t2", "a", 1), ("t2", "c", 0)]),
    "mixed id types": frame([(1, "a", "yes"), ("1", "a", "no"), (2.5, 3, "yes"), (1, 3, "yes")]),
    "three labels": frame([(t, w, (t * w) % 3) for t in range(6) for w in range(4)]),
}


def both(name, fit):
    """(ours, crowd-kit's fitted attributes) or the exception each raised."""
    import crowdkit.aggregation as ck

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            theirs = fit(ck)
            theirs = {a: v for a, v in vars(theirs).items() if a.endswith("_") and not a.startswith("_")}
        except Exception as e:  # noqa: BLE001 - compared below
            theirs = e
    try:
        ours = fit(T)
    except Exception as e:  # noqa: BLE001
        ours = e
    return ours, theirs


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("name", EXACT)
def test_case_same_as_crowdkit(case, name, crowdkit):
    df = CASES[case]

    def fit(m):
        model = getattr(m, name)()
        model.fit_predict_proba(df)
        return model

    ours, theirs = both(name, fit)
    if isinstance(theirs, Exception):
        pytest.fail(f"crowd-kit raised {theirs!r}: the case needs no comparison")
    assert not isinstance(ours, Exception), ours
    assert_same(ours, theirs, f"{case}/{name}")


def test_ties_go_to_lowest_label():
    assert T.MajorityVote().fit_predict(CASES["ties"]).tolist() == [1, 1]
    assert T.MajorityVote().fit_predict(CASES["string labels with a tie"])["a"] == "cat"


def test_extra_columns_are_ignored(crowdkit):
    df = CASES["three labels"].assign(extra=1.5)
    pd.testing.assert_frame_equal(T.DawidSkene().fit_predict_proba(df), crowdkit.DawidSkene().fit_predict_proba(df))


def test_unused_categories():
    """A Categorical label column with categories no answer uses: those labels get no column (as
    in crowd-kit's outputs for plain labels; crowd-kit itself fails on a Categorical column), and
    the result equals that on the same labels as plain strings."""
    plain = CASES["string labels with a tie"]
    cat = plain.assign(label=pd.Categorical(plain.label, categories=["ant", "bird", "cat", "dog", "eel"]))
    for cls in (T.MajorityVote, T.DawidSkene, T.Wawa, T.OneCoinDawidSkene):
        a, b = cls().fit_predict_proba(cat), cls().fit_predict_proba(plain)
        assert list(a.columns.astype(str)) == ["bird", "cat", "dog"]
        np.testing.assert_allclose(a.to_numpy(), b.to_numpy())
        assert (cls().fit_predict(cat).astype(str) == cls().fit_predict(plain)).all()


@pytest.mark.parametrize("name", ["Wawa", "ZeroBasedSkill", "MMSR"])
def test_predict_on_new_data(name, crowdkit):
    train = CASES["three labels"]
    new = frame([(10, 0, 1), (10, 1, 2), (10, 2, 2), (11, 3, 0), (11, 1, 0)])
    predict = "predict_score" if name == "MMSR" else "predict_proba"

    def fit(m):
        model = getattr(m, name)().fit(train)
        getattr(model, predict)(new)
        return model

    ours, theirs = both(name, fit)
    if name == "MMSR":  # the same model, not the same run (crowd-kit's skills are NaN here): shapes only
        assert list(ours.scores_.index) == [10, 11] and list(ours.scores_.columns) == [0, 1, 2]
        assert np.isfinite(ours.skills_).all()
        return
    assert_same(ours, theirs, name)


def test_missing_skill_raises_like_crowdkit(crowdkit):
    train = CASES["three labels"]
    new = frame([(10, 0, 1), (10, 99, 2)])
    for name in ("Wawa", "ZeroBasedSkill"):
        with pytest.raises(ValueError, match="Skill value is missing in 1 assignments"):
            getattr(T, name)().fit(train).predict(new)
        with pytest.raises(ValueError, match="Skill value is missing in 1 assignments"):
            getattr(crowdkit, name)().fit(train).predict(new)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"on_missing_skill": "ignore"}, {"on_missing_skill": "value", "default_skill": 0.25}, {"on_missing_skill": "value"}, {"default_skill": 0.5}, {"on_missing_skill": "nope"}],
)
def test_weighted_majority_vote(kwargs, crowdkit):
    df = frame([(1, "a", 0), (1, "b", 1), (1, "c", 1), (2, "a", 1), (2, "c", 0), (3, "d", 0), (3, "a", 1)])
    skills = pd.Series({"a": 0.9, "b": 0.3, "c": 0.4})
    ours, theirs = both("MajorityVote", lambda m: m.MajorityVote(**kwargs).fit(df, skills))
    if isinstance(theirs, Exception):
        assert type(ours) is type(theirs) and str(ours) == str(theirs)
    else:
        assert_same(ours, theirs, str(kwargs))


def test_gold_majority_vote(crowdkit):
    df = CASES["three labels"]
    gold = pd.Series({0: 0, 1: 1, 2: 2, 99: 1})  # task 99 has no answers
    ours, theirs = both("GoldMajorityVote", lambda m: _gold(m, df, gold))
    assert_same(ours, theirs, "GoldMajorityVote")
    # a worker with no golden answer has no skill: predict raises in both
    partial = pd.Series({0: 0})
    df2 = pd.concat([df, frame([(0, 7, 1), (5, 8, 0)])])
    for m in (T, crowdkit):
        with pytest.raises(ValueError, match="Skill value is missing"):
            m.GoldMajorityVote().fit_predict(df2, partial)


def _gold(m, df, gold):
    model = m.GoldMajorityVote().fit(df, gold)
    model.predict_proba(df)
    return model


def test_golden_labels_for_unknown_tasks_are_ignored(crowdkit):
    df = CASES["three labels"]
    gold = pd.Series({1: 2, 4: 0, "nope": 1})
    ours, theirs = both("DawidSkene", lambda m: m.DawidSkene().fit(df, gold))
    assert_same(ours, theirs, "DawidSkene golden")


def test_empty_data(crowdkit):
    empty = frame([])
    for name in ("DawidSkene", "OneCoinDawidSkene"):
        ours, theirs = both(name, lambda m: getattr(m, name)().fit(empty))
        assert sorted(theirs) == sorted(a for a in vars(ours) if a.endswith("_"))
        for a in theirs:
            assert type(getattr(ours, a)) is type(theirs[a]) and len(getattr(ours, a)) == 0
    assert T.KOS().fit_predict(empty).empty


def test_not_supported_is_said():
    df = CASES["ties"]
    with pytest.raises(ValueError, match="binary"):
        T.KOS().fit(CASES["three labels"])
    with pytest.raises(NotImplementedError):
        T.DawidSkene(initial_error_strategy="assign").fit(df, initial_error=pd.DataFrame())
    with pytest.raises(NotImplementedError):
        T.GLAD(labels_priors=pd.Series({1: 0.5, 2: 0.5})).fit(df)
    with pytest.raises(NotImplementedError):
        T.MACE(method="em").fit(df)
    with pytest.raises(ValueError, match="labels that no answer has"):
        T.DawidSkene().fit(df, pd.Series({1: 9}))
    with pytest.raises(ValueError, match="missing values"):
        T.MajorityVote().fit(frame([(1, "a", None), (1, "b", 1)]))


@pytest.mark.parametrize("name", ["GLAD", "MACE", "KOS", "MMSR"])
def test_other_methods_have_crowdkit_shapes(name, crowdkit):
    """GLAD, MACE, KOS and M-MSR are the same models but not bit-identical runs: same tasks in
    the same order, same label set, mostly the same labels."""
    df = CASES["duplicate answers"] if name != "KOS" else CASES["ties"]
    ours, theirs = both(name, lambda m: getattr(m, name)().fit(df) if name in ("KOS", "MMSR") else _proba(getattr(m, name)(), df))
    if name == "MMSR":
        ours.predict(df)
        theirs_model = crowdkit.MMSR().fit(df)
        theirs["labels_"] = theirs_model.predict(df)
    assert list(ours.labels_.index) == list(theirs["labels_"].index)
    assert ours.labels_.name == "agg_label"
    if "probas_" in theirs:
        assert list(ours.probas_.columns) == list(theirs["probas_"].columns)
        assert ours.probas_.index.name == theirs["probas_"].index.name


def _proba(model, df):
    model.fit_predict_proba(df)
    return model
