"""Crowd label aggregation with crowd-kit 1.4.2's interface, computed by tessera-engine (Rust).

Change ``from crowdkit.aggregation import DawidSkene`` to ``from tessera.aggregation import
DawidSkene`` and nothing else: the ten classes below have crowd-kit's names, constructor
parameters and defaults, ``fit`` / ``fit_predict`` / ``fit_predict_proba`` / ``predict`` ...
signatures, and fitted attributes (``labels_``, ``probas_``, ``skills_``, ``errors_``,
``priors_``, ``loss_history_`` ...) with crowd-kit's index names, columns, order and dtypes.

``data`` is a pandas DataFrame with columns ``task``, ``worker`` and ``label`` (any hashable ids
and labels; other columns are ignored). It crosses into Rust as three arrays of integer codes
(``pandas.factorize``), never row by row; the algorithm runs without the GIL.

Same labels as crowd-kit, task by task: MajorityVote, Wawa, ZeroBasedSkill, GoldMajorityVote,
DawidSkene (with and without ``true_labels``) and OneCoinDawidSkene (ties go to the lowest label,
as pandas' ``idxmax`` over sorted label columns does). KOS agrees up to one swap of its two labels
(its sign anchor), GLAD, MACE and MMSR are the same models but not bit-identical runs (MACE: see
its docstring). Where crowd-kit would produce NaN (every worker of a task has weight 0) tessera
falls back to plain vote shares.

Not implemented (they raise ``NotImplementedError`` rather than silently differ): DawidSkene's
``initial_error`` with an ``initial_error_strategy``, GLAD's ``labels_priors`` /
``alphas_priors_mean`` / ``betas_priors_mean``, MACE's ``method="em"``.
"""

import json
from typing import Any, Dict, List, Literal, Optional, Tuple

import numpy as np
import numpy.typing as npt
import pandas as pd

from . import _tessera

__all__ = [
    "MajorityVote",
    "Wawa",
    "ZeroBasedSkill",
    "GoldMajorityVote",
    "DawidSkene",
    "OneCoinDawidSkene",
    "GLAD",
    "MACE",
    "KOS",
    "MMSR",
]


class _Nothing:
    """Stands for "no value given" (crowd-kit's MMSR shows attrs' ``NOTHING`` here)."""

    def __repr__(self) -> str:
        return "NOTHING"


NOTHING: Any = _Nothing()


# ---------------------------------------------------------------------------------------------
# Data in: codes and categories.


class _Codes:
    """The answers as dense codes: ``task``, ``worker``, ``label`` (uint32) and the categories
    they index. ``sort_tasks`` / ``sort_workers``: categories in sorted order (crowd-kit's
    ``groupby`` / ``unstack`` order) instead of first appearance (its ``groupby(sort=False)``).
    Labels are always sorted, so that "ties to the lowest label code" is pandas' ``idxmax``
    over crowd-kit's sorted label columns."""

    def __init__(self, data: pd.DataFrame, sort_tasks: bool, sort_workers: bool) -> None:
        data = data[["task", "worker", "label"]]
        self.data = data
        self.label_dtype = data["label"].dtype
        t, self.tasks = pd.factorize(data["task"], sort=sort_tasks)
        w, self.workers = pd.factorize(data["worker"], sort=sort_workers)
        lab, self.labels = pd.factorize(data["label"], sort=True)
        for name, codes in (("task", t), ("worker", w), ("label", lab)):
            if len(codes) and codes.min() < 0:
                raise ValueError(f"the {name} column has missing values (NaN or None)")
        self.task = t.astype(np.uint32)
        self.worker = w.astype(np.uint32)
        self.label = lab.astype(np.uint32)

    @property
    def n(self) -> Tuple[int, int, int]:
        return len(self.tasks), len(self.workers), len(self.labels)

    def task_index(self) -> pd.Index:
        return pd.Index(self.tasks, name="task")

    def label_columns(self, name: Optional[str] = "label") -> pd.Index:
        return pd.Index(self.labels, name=name)

    def fit(self, method: str, params: Optional[Dict[str, Any]] = None, golden: Optional[npt.NDArray[np.int64]] = None) -> Dict[str, Any]:
        n_tasks, n_workers, n_labels = self.n
        return _tessera.aggregate(method, json.dumps(params or {}), n_tasks, n_workers, n_labels, self.task, self.worker, self.label, golden)

    def golden(self, true_labels: "pd.Series[Any]", extend: bool) -> npt.NDArray[np.int64]:
        """One label code per task, -1 where ``true_labels`` has none. A true label that no
        answer uses is added to the categories when ``extend`` (it only lowers accuracies), else
        it is an error."""
        true_labels = pd.Series(true_labels)
        if not true_labels.index.is_unique:
            raise ValueError("true_labels has a task more than once")
        known = true_labels.dropna()
        new = known[~known.isin(self.labels)]
        if len(new):
            if not extend:
                raise ValueError(f"true_labels uses labels that no answer has: {list(pd.unique(new))[:5]}")
            self.labels = self.labels.append(pd.Index(pd.unique(new))).sort_values()
            self.label = pd.Index(self.labels).get_indexer(self.data["label"]).astype(np.uint32)
        per_task = known.reindex(self.tasks)
        codes = pd.Index(self.labels).get_indexer(per_task.to_numpy())
        return codes.astype(np.int64)

    def labels_series(self, codes: npt.NDArray[np.int64], index: pd.Index) -> "pd.Series[Any]":
        return pd.Series(self.labels.take(codes), index=index, name="agg_label")


def _probas(r: Dict[str, Any], c: _Codes) -> pd.DataFrame:
    return pd.DataFrame(r["probas"], index=c.task_index(), columns=c.label_columns())


def _skill_series(values: npt.NDArray[np.float64], workers: pd.Index) -> "pd.Series[Any]":
    return pd.Series(values, index=pd.Index(workers, name="worker"), name="skill")


def _empty_labels() -> "pd.Series[Any]":
    return pd.Series([], dtype="O", name="agg_label")


def _weighted_vote(data: pd.DataFrame, skills: "pd.Series[Any]", on_missing_skill: str, default_skill: Optional[float]) -> Dict[str, Any]:
    """crowd-kit's ``MajorityVote().fit(data, skills)`` with its handling of missing skills;
    returns the codes and the engine's result."""
    c = _Codes(data, sort_tasks=True, sort_workers=True)
    weights = pd.Series(skills).reindex(c.workers).to_numpy(dtype=float)
    if on_missing_skill != "value" and default_skill is not None:
        raise ValueError('default_skill is used but on_missing_skill is not "value"')
    missing = np.isnan(weights)
    if on_missing_skill == "error":
        n = int(missing[c.worker].sum())
        if n > 0:
            raise ValueError(
                f"Skill value is missing in {n} assignments. Specify skills for every"
                f"used worker or use different 'on_unknown_skill' value."
            )
    elif on_missing_skill == "ignore":
        if missing.any():
            keep = ~missing[c.worker]
            dropped = len(c.tasks) - len(np.unique(c.task[keep]))
            if dropped > 0:
                raise ValueError(
                    f"{dropped} tasks has no workers with known skills. Provide at least one worker with known"
                    f"skill for every task or use different 'on_unknown_skill' value."
                )
            return _weighted_vote(c.data[keep], skills, "error", None)
    elif on_missing_skill == "value":
        if default_skill is None:
            raise ValueError('Default skill value must be specified when using on_missing_skill="value"')
        weights[missing] = default_skill
    else:
        raise ValueError(f'Unknown option {on_missing_skill!r} of "on_missing_skill" argument.')
    n_tasks, n_workers, n_labels = c.n
    r = _tessera.weighted_vote(n_tasks, n_workers, n_labels, c.task, c.worker, c.label, weights)
    return {"codes": c, "result": r}


class _Fitted:
    """Shared plumbing: parameters for repr and equality, the fitted-attribute guard."""

    _params: List[str] = []
    # fitted attributes, set by fit / predict (declared for type checkers; absent until then)
    labels_: "pd.Series[Any]"
    probas_: pd.DataFrame
    scores_: pd.DataFrame
    skills_: "pd.Series[Any]"
    priors_: "pd.Series[Any]"
    errors_: pd.DataFrame
    loss_history_: List[float]

    def __repr__(self) -> str:
        args = ", ".join(f"{p}={getattr(self, p)!r}" for p in self._params)
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and all(getattr(self, p) == getattr(other, p) for p in self._params)

    __hash__ = None  # type: ignore[assignment]

    def _fitted(self, name: str) -> Any:
        if not hasattr(self, name):
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet: call fit first ({name} is missing)")
        return getattr(self, name)

    def _set_vote(self, vote: Dict[str, Any], probas_attr: str = "probas_") -> None:
        c, r = vote["codes"], vote["result"]
        probas = _probas(r, c)
        setattr(self, probas_attr, probas)
        self.labels_ = c.labels_series(r["labels"], probas.index)


# ---------------------------------------------------------------------------------------------
# The majority-vote family.


class MajorityVote(_Fitted):
    """Majority vote: each task gets the label most of its answers gave (ties: the lowest label).

    With ``skills`` (a Series of weights by worker) the score of a label is the summed weight of
    the workers who gave it, normalised per task (weighted majority vote).

    Parameters:
        default_skill: weight of a worker missing from ``skills`` when ``on_missing_skill="value"``.
        on_missing_skill: ``"error"`` (raise), ``"ignore"`` (drop that worker's answers) or
            ``"value"`` (use ``default_skill``).

    Fitted attributes: ``labels_`` (Series "agg_label" by task), ``probas_`` (DataFrame task ×
    label, rows sum to 1), ``skills_`` (Series "skill" by worker: accuracy against ``labels_``).
    """

    _params = ["default_skill", "on_missing_skill"]

    def __init__(self, default_skill: Optional[float] = None, on_missing_skill: str = "error") -> None:
        self.default_skill = default_skill
        self.on_missing_skill = on_missing_skill

    def fit(self, data: pd.DataFrame, skills: Optional["pd.Series[Any]"] = None) -> "MajorityVote":
        """Fits the model: labels, label probabilities and worker accuracies. Returns self."""
        vote: Dict[str, Any]
        if skills is None:
            c = _Codes(data, sort_tasks=True, sort_workers=True)
            vote = {"codes": c, "result": c.fit("mv")}
        else:
            vote = _weighted_vote(data, skills, self.on_missing_skill, self.default_skill)
        self._set_vote(vote)
        self.skills_ = _skill_series(vote["result"]["skills"], vote["codes"].workers)
        return self

    def fit_predict_proba(self, data: pd.DataFrame, skills: Optional["pd.Series[Any]"] = None) -> pd.DataFrame:
        """Fits the model and returns ``probas_``: task × label, each row summing to 1."""
        return self.fit(data, skills).probas_

    def fit_predict(self, data: pd.DataFrame, skills: Optional["pd.Series[Any]"] = None) -> "pd.Series[Any]":
        """Fits the model and returns ``labels_``: the most likely label of each task."""
        return self.fit(data, skills).labels_


class _SkillVote(_Fitted):
    """fit learns ``skills_``; predict is a weighted majority vote with them on any data."""

    def _apply(self, data: pd.DataFrame) -> None:
        self._set_vote(_weighted_vote(data, self._fitted("skills_"), "error", None))

    def predict(self, data: pd.DataFrame) -> "pd.Series[Any]":
        """Labels of ``data``'s tasks by a majority vote weighted with the fitted ``skills_``."""
        self._apply(data)
        return self.labels_

    def predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """Label probabilities of ``data``'s tasks (weighted by the fitted ``skills_``)."""
        self._apply(data)
        return self.probas_

    def fit_predict(self, data: pd.DataFrame) -> "pd.Series[Any]":
        """``fit(data).predict(data)``."""
        return self.fit(data).predict(data)  # type: ignore[attr-defined]

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """``fit(data).predict_proba(data)``."""
        return self.fit(data).predict_proba(data)  # type: ignore[attr-defined]


class Wawa(_SkillVote):
    """Worker Agreement with Aggregate: majority vote, then each worker's skill is their
    accuracy against it, then a majority vote weighted by those skills.

    Fitted attributes: ``skills_`` (after ``fit``), ``labels_`` and ``probas_`` (after
    ``predict`` / ``predict_proba`` / ``fit_predict`` / ``fit_predict_proba``).
    """

    def __init__(self) -> None:
        pass

    def fit(self, data: pd.DataFrame) -> "Wawa":
        """Learns the workers' skills (accuracy against majority vote). Returns self."""
        c = _Codes(data, sort_tasks=True, sort_workers=True)
        self.skills_ = _skill_series(c.fit("mv")["skills"], c.workers)
        return self



class ZeroBasedSkill(_SkillVote):
    """Zero-Based Skill: skills start at 1/K + eps and move towards each worker's accuracy
    against the current weighted majority vote, ``n_iter`` times, with a learning rate that starts
    at ``lr_init`` and is multiplied by ``lr_reduce_factor`` every ``lr_steps_to_reduce`` steps.

    Fitted attributes: ``skills_`` (after ``fit``), ``labels_`` and ``probas_`` (after predict).
    """

    _params = ["n_iter", "lr_init", "lr_steps_to_reduce", "lr_reduce_factor", "eps"]

    def __init__(self, n_iter: int = 100, lr_init: float = 1.0, lr_steps_to_reduce: int = 20, lr_reduce_factor: float = 0.5, eps: float = 1e-05) -> None:
        self.n_iter = n_iter
        self.lr_init = lr_init
        self.lr_steps_to_reduce = lr_steps_to_reduce
        self.lr_reduce_factor = lr_reduce_factor
        self.eps = eps

    def fit(self, data: pd.DataFrame) -> "ZeroBasedSkill":
        """Learns the workers' skills. Returns self."""
        c = _Codes(data, sort_tasks=True, sort_workers=True)
        self.skills_ = _skill_series(c.fit("zbs", {p: getattr(self, p) for p in self._params})["skills"], c.workers)
        return self



class GoldMajorityVote(_SkillVote):
    """Majority vote weighted by each worker's accuracy on golden tasks (``true_labels``, a
    Series of labels by task). A worker with no answer on a golden task has no skill, so
    ``predict`` on their answers raises, as in crowd-kit.

    Fitted attributes: ``skills_`` (after ``fit``), ``labels_`` and ``probas_`` (after predict).
    """

    def __init__(self) -> None:
        pass

    def fit(self, data: pd.DataFrame, true_labels: "pd.Series[Any]") -> "GoldMajorityVote":  # type: ignore[override]
        """Learns the workers' accuracy on the tasks of ``true_labels``. Returns self."""
        c = _Codes(data, sort_tasks=True, sort_workers=True)
        golden = c.golden(true_labels, extend=True)
        r = c.fit("gold-mv", golden=golden)
        seen = np.zeros(len(c.workers), dtype=bool)
        seen[c.worker[golden[c.task] >= 0]] = True
        self.skills_ = _skill_series(r["skills"][seen], c.workers[seen])
        return self

    def fit_predict(self, data: pd.DataFrame, true_labels: "pd.Series[Any]") -> "pd.Series[Any]":  # type: ignore[override]
        """``fit(data, true_labels).predict(data)``."""
        return self.fit(data, true_labels).predict(data)

    def fit_predict_proba(self, data: pd.DataFrame, true_labels: "pd.Series[Any]") -> pd.DataFrame:  # type: ignore[override]
        """``fit(data, true_labels).predict_proba(data)``."""
        return self.fit(data, true_labels).predict_proba(data)


# ---------------------------------------------------------------------------------------------
# Dawid-Skene.


def _errors_frame(r: Dict[str, Any], c: _Codes) -> pd.DataFrame:
    """The engine's sparse confusion rows as crowd-kit's ``errors_``: indexed by (worker,
    label) in order of first appearance of the pair, one column per true label."""
    k = len(c.labels)
    offsets = r["confusion_offsets"].astype(np.int64)
    row_key = np.repeat(np.arange(len(offsets) - 1, dtype=np.int64), np.diff(offsets)) * k + r["confusion_observed"]
    pairs = pd.unique(c.worker.astype(np.int64) * k + c.label)
    rows = np.searchsorted(row_key, pairs)
    index = pd.MultiIndex.from_arrays([c.workers.take(pairs // k), c.labels.take(pairs % k)], names=["worker", "label"])
    return pd.DataFrame(r["confusion"][rows], index=index, columns=pd.Index(list(c.labels), dtype=object))


def _ds_frames(self: Any, r: Dict[str, Any], c: _Codes) -> None:
    probas = pd.DataFrame(r["probas"], index=c.task_index(), columns=pd.Index(c.labels, name="label", dtype=c.label_dtype))
    self.probas_ = probas
    self.priors_ = probas.mean().rename("prior")
    self.errors_ = _errors_frame(r, c)
    self.labels_ = c.labels_series(r["labels"], probas.index)
    self.loss_history_ = [float(x) for x in r["loss_history"]]


def _ds_empty(self: Any) -> None:
    self.probas_ = pd.DataFrame()
    self.priors_ = pd.Series(dtype=float, name="prior")
    self.errors_ = pd.DataFrame()
    self.labels_ = pd.Series(dtype=float, name="agg_label")


class DawidSkene(_Fitted):
    """Dawid-Skene: every worker has a confusion matrix; EM alternates the posterior of each
    task's true label and the confusion matrices, from majority-vote shares, for at most
    ``n_iter`` iterations or until the evidence lower bound gains less than ``tol``. With
    ``true_labels`` (a Series of labels by task) the posteriors of golden tasks are fixed; golden
    labels of tasks without answers are ignored, and a golden label that no answer uses is a
    ``ValueError`` (crowd-kit silently adds a column for it).

    Fitted attributes: ``labels_``, ``probas_`` (task × label), ``priors_`` (Series "prior" by
    label), ``errors_`` (DataFrame by (worker, label): P(worker answers label | true label =
    column)), ``loss_history_`` (ELBO per answer after each iteration).
    """

    _params = ["n_iter", "tol", "initial_error_strategy"]

    def __init__(self, n_iter: int = 100, tol: float = 1e-05, initial_error_strategy: Optional[Literal["assign", "addition"]] = None) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.initial_error_strategy = initial_error_strategy

    def fit(self, data: pd.DataFrame, true_labels: Optional["pd.Series[Any]"] = None, initial_error: Optional[pd.DataFrame] = None) -> "DawidSkene":
        """Fits the model by EM. Returns self."""
        data = data[["task", "worker", "label"]]
        if not data.size:
            _ds_empty(self)
            return self
        if self.initial_error_strategy is not None and initial_error is not None:
            raise NotImplementedError("tessera's DawidSkene does not take initial_error yet (crowd-kit's initial_error_strategy)")
        c = _Codes(data, sort_tasks=False, sort_workers=False)
        golden = None if true_labels is None else c.golden(true_labels, extend=False)
        _ds_frames(self, c.fit("ds", {"n_iter": self.n_iter, "tol": self.tol}, golden), c)
        return self

    def fit_predict_proba(self, data: pd.DataFrame, true_labels: Optional["pd.Series[Any]"] = None, initial_error: Optional[pd.DataFrame] = None) -> pd.DataFrame:
        """Fits the model and returns ``probas_``."""
        return self.fit(data, true_labels, initial_error).probas_

    def fit_predict(self, data: pd.DataFrame, true_labels: Optional["pd.Series[Any]"] = None, initial_error: Optional[pd.DataFrame] = None) -> "pd.Series[Any]":
        """Fits the model and returns ``labels_``."""
        return self.fit(data, true_labels, initial_error).labels_


class OneCoinDawidSkene(DawidSkene):
    """One-coin Dawid-Skene: each worker has one accuracy (``skills_``); a wrong answer is
    spread evenly over the other labels. Otherwise as :class:`DawidSkene` (no golden labels).

    Fitted attributes: those of DawidSkene plus ``skills_`` (Series "skill" by worker).
    """

    def fit(self, data: pd.DataFrame) -> "OneCoinDawidSkene":  # type: ignore[override]
        """Fits the model by EM. Returns self."""
        data = data[["task", "worker", "label"]]
        if not data.size:
            _ds_empty(self)
            return self
        c = _Codes(data, sort_tasks=False, sort_workers=False)
        r = c.fit("one-coin-ds", {"n_iter": self.n_iter, "tol": self.tol})
        _ds_frames(self, r, c)
        self.skills_ = _skill_series(r["skills"], c.workers)
        return self

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:  # type: ignore[override]
        """Fits the model and returns ``probas_``."""
        return self.fit(data).probas_

    def fit_predict(self, data: pd.DataFrame) -> "pd.Series[Any]":  # type: ignore[override]
        """Fits the model and returns ``labels_``."""
        return self.fit(data).labels_


# ---------------------------------------------------------------------------------------------
# GLAD, MACE, KOS, M-MSR.


class GLAD(_Fitted):
    """GLAD (Generative model of Labels, Abilities, and Difficulties): worker ability
    ``alphas_`` and task difficulty ``betas_`` (the log of the inverse difficulty), fitted by EM
    with gradient M-steps (at most ``m_step_max_iter`` steps, until the gradient norm is below
    ``m_step_tol``).

    Fitted attributes: ``labels_``, ``probas_``, ``alphas_`` (by worker), ``betas_`` (by task),
    ``loss_history_``. Custom priors are not supported (``NotImplementedError``).
    """

    _params = ["n_iter", "tol", "silent", "labels_priors", "alphas_priors_mean", "betas_priors_mean", "m_step_max_iter", "m_step_tol"]

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-05,
        silent: bool = True,
        labels_priors: Optional["pd.Series[Any]"] = None,
        alphas_priors_mean: Optional["pd.Series[Any]"] = None,
        betas_priors_mean: Optional["pd.Series[Any]"] = None,
        m_step_max_iter: int = 25,
        m_step_tol: float = 0.01,
    ) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.silent = silent
        self.labels_priors = labels_priors
        self.alphas_priors_mean = alphas_priors_mean
        self.betas_priors_mean = betas_priors_mean
        self.m_step_max_iter = m_step_max_iter
        self.m_step_tol = m_step_tol

    def fit(self, data: pd.DataFrame) -> "GLAD":
        """Fits the model by EM. Returns self."""
        if any(p is not None for p in (self.labels_priors, self.alphas_priors_mean, self.betas_priors_mean)):
            raise NotImplementedError("tessera's GLAD uses crowd-kit's default priors only (labels_priors, alphas_priors_mean, betas_priors_mean must be None)")
        c = _Codes(data, sort_tasks=False, sort_workers=False)
        r = c.fit("glad", {p: getattr(self, p) for p in ("n_iter", "tol", "m_step_max_iter", "m_step_tol")})
        order = np.argsort(c.tasks, kind="stable")
        sorted_tasks = pd.Index(c.tasks.take(order), name="task")
        self.probas_ = pd.DataFrame(r["probas"][order], index=sorted_tasks, columns=c.label_columns("variable"))
        self.labels_ = c.labels_series(r["labels"][order], sorted_tasks)
        self.alphas_ = pd.Series(r["skills"], index=pd.Index(c.workers, name="worker"), name="alpha")
        self.betas_ = pd.Series(np.log(r["difficulty"]), index=pd.Index(c.tasks, name="task"), name="beta")
        self.loss_history_ = [float(x) for x in r["loss_history"]]
        # crowd-kit's bookkeeping: the ids in order of appearance and the (default) priors
        self.tasks_ = np.asarray(c.tasks)
        self.workers_ = np.asarray(c.workers)
        self.prior_labels_ = np.asarray(c.labels.take(pd.unique(c.label)))
        self.priors_ = pd.Series(1.0 / len(c.labels), index=self.prior_labels_)
        self.alphas_priors_mean_ = pd.Series(1.0, index=pd.Index(c.workers))
        self.betas_priors_mean_ = pd.Series(1.0, index=pd.Index(c.tasks))
        return self

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """Fits the model and returns ``probas_``."""
        return self.fit(data).probas_

    def fit_predict(self, data: pd.DataFrame) -> "pd.Series[Any]":
        """Fits the model and returns ``labels_``."""
        return self.fit(data).labels_


class MACE(_Fitted):
    """MACE (Multi-Annotator Competence Estimation): each worker either knows the answer or
    spams from their own label distribution; variational Bayes, best of ``n_restarts`` random
    starts of ``n_iter`` rounds.

    Differences from crowd-kit (see tessera-engine's ``mace.rs``): crowd-kit re-seeds every
    restart with the same ``random_state`` (its restarts are copies of one run); tessera seeds
    restart r with ``random_state + r``, from its own generator, so labels can differ. Only
    ``method="vb"`` (``smoothing`` is not used; ``verbose`` prints nothing).

    Fitted attributes: ``labels_``, ``probas_`` (columns in order of first appearance, as
    crowd-kit), ``spamming_`` (workers × (P(spam), P(know)), a probability per row where
    crowd-kit's are variational parameters), ``smoothing_``. crowd-kit's ``thetas_`` and prior
    arrays are not exposed.
    """

    _params = ["n_restarts", "n_iter", "method", "smoothing", "default_noise", "alpha", "beta", "random_state", "verbose"]

    def __init__(
        self,
        n_restarts: int = 10,
        n_iter: int = 50,
        method: str = "vb",
        smoothing: float = 0.1,
        default_noise: float = 0.5,
        alpha: float = 0.5,
        beta: float = 0.5,
        random_state: int = 0,
        verbose: int = 0,
    ) -> None:
        self.n_restarts = n_restarts
        self.n_iter = n_iter
        self.method = method
        self.smoothing = smoothing
        self.default_noise = default_noise
        self.alpha = alpha
        self.beta = beta
        self.random_state = random_state
        self.verbose = verbose

    def fit(self, data: pd.DataFrame) -> "MACE":
        """Fits the model. Returns self."""
        if self.method != "vb":
            raise NotImplementedError(f"tessera's MACE has method='vb' only, not {self.method!r}")
        c = _Codes(data, sort_tasks=False, sort_workers=False)
        r = c.fit("mace", {p: getattr(self, p) for p in ("n_restarts", "n_iter", "default_noise", "alpha", "beta", "random_state")})
        first = pd.unique(c.label)
        self.probas_ = pd.DataFrame(r["probas"][:, first], index=c.task_index(), columns=pd.Index(c.labels.take(first)))
        self.labels_ = c.labels_series(r["labels"], self.probas_.index)
        know = r["skills"]
        self.spamming_ = np.column_stack([1.0 - know, know])
        self.smoothing_ = 0.01 / len(c.labels)
        return self

    def fit_predict(self, data: pd.DataFrame) -> "pd.Series[Any]":
        """Fits the model and returns ``labels_``."""
        return self.fit(data).labels_

    def fit_predict_proba(self, data: pd.DataFrame) -> pd.DataFrame:
        """Fits the model and returns ``probas_``."""
        return self.fit(data).probas_


class KOS(_Fitted):
    """Karger-Oh-Shah belief propagation for binary labels (``ValueError`` otherwise).
    Agrees with crowd-kit up to one swap of the two labels (tessera anchors the sign on majority
    vote). Fitted attribute: ``labels_``."""

    _params = ["n_iter", "random_state"]

    def __init__(self, n_iter: int = 100, random_state: int = 0) -> None:
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, data: pd.DataFrame) -> "KOS":
        """Fits the model. Returns self."""
        if not data.size:
            self.labels_ = _empty_labels()
            return self
        c = _Codes(data, sort_tasks=True, sort_workers=False)
        if len(c.labels) != 2:
            raise ValueError("KOS aggregation method is for binary classification only.")
        r = c.fit("kos", {"n_iter": self.n_iter, "random_state": self.random_state})
        self.labels_ = c.labels_series(r["labels"], c.task_index())
        return self

    def fit_predict(self, data: pd.DataFrame) -> "pd.Series[Any]":
        """Fits the model and returns ``labels_``."""
        return self.fit(data).labels_


class MMSR(_Fitted):
    """M-MSR (Matrix Mean-Subsequence-Reduced): worker skills from a robust rank-one
    completion of the workers' agreement matrix; labels by a majority vote weighted with them.

    The matrix parameters (``observation_matrix`` ... ``tasks_mapping``) are crowd-kit's
    internal state and are accepted and ignored. Fitted attributes: ``skills_`` (after fit),
    ``labels_`` and ``scores_`` (after predict), ``loss_history_``.
    """

    _params = ["n_iter", "tol", "random_state"]

    def __init__(
        self,
        n_iter: int = 10000,
        tol: float = 1e-10,
        random_state: Optional[int] = 0,
        observation_matrix: npt.NDArray[Any] = NOTHING,
        covariation_matrix: npt.NDArray[Any] = NOTHING,
        n_common_tasks: npt.NDArray[Any] = NOTHING,
        n_workers: int = 0,
        n_tasks: int = 0,
        n_labels: int = 0,
        labels_mapping: Dict[Any, int] = NOTHING,
        workers_mapping: Dict[Any, int] = NOTHING,
        tasks_mapping: Dict[Any, int] = NOTHING,
    ) -> None:
        self.n_iter = n_iter
        self.tol = tol
        self.random_state = random_state

    def fit(self, data: pd.DataFrame) -> "MMSR":
        """Learns the workers' skills. Returns self."""
        c = _Codes(data, sort_tasks=False, sort_workers=False)
        params = {"n_iter": self.n_iter, "tol": self.tol, "random_state": 0 if self.random_state is None else self.random_state}
        r = c.fit("mmsr", params)
        self.skills_ = _skill_series(r["skills"], c.workers)
        self.loss_history_ = [float(x) for x in r["loss_history"]]
        return self

    def _apply(self, data: pd.DataFrame) -> None:
        self._set_vote(_weighted_vote(data, self._fitted("skills_"), "error", None), "scores_")

    def predict(self, data: pd.DataFrame) -> "pd.Series[Any]":
        """Labels of ``data``'s tasks by a majority vote weighted with the fitted ``skills_``."""
        self._apply(data)
        return self.labels_

    def predict_score(self, data: pd.DataFrame) -> pd.DataFrame:
        """Label scores of ``data``'s tasks (weighted by the fitted ``skills_``)."""
        self._apply(data)
        return self.scores_

    def fit_predict(self, data: pd.DataFrame) -> "pd.Series[Any]":
        """``fit(data).predict(data)``."""
        return self.fit(data).predict(data)

    def fit_predict_score(self, data: pd.DataFrame) -> pd.DataFrame:
        """``fit(data).predict_score(data)``."""
        return self.fit(data).predict_score(data)
