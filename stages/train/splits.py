"""The two held-out splits every model is scored on (pure functions of row counts and dates)."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

import numpy as np

RANDOM_SPLIT = "random_80_20"
#: the task's ``random_state`` of the random 80/20 split
RANDOM_SPLIT_SEED = 42
TIME_SPLIT = "time_split"


@dataclass(frozen=True)
class Split:
    """Row indices of one split; ``scored`` is the subset of ``test`` every model is scored on."""

    name: str
    train: np.ndarray
    test: np.ndarray
    scored: np.ndarray
    details: dict

    def describe(self) -> dict:
        return {
            **self.details,
            "train_rows": int(self.train.shape[0]),
            "test_rows": int(self.test.shape[0]),
            "scored_rows": int(self.scored.shape[0]),
            "scored_is_sample": bool(self.scored.shape[0] < self.test.shape[0]),
        }


def score_rows(test: np.ndarray, max_rows: int, seed: int) -> np.ndarray:
    """All of ``test`` if it has at most ``max_rows`` rows, else a sorted random sample of that size."""
    if test.shape[0] <= max_rows:
        return np.sort(test)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(test, size=max_rows, replace=False))


def draw_permutation(n_rows: int, seed: int) -> np.ndarray:
    """``RandomState(seed).permutation(n_rows)``: the draw scikit-learn's ShuffleSplit makes."""
    return np.random.RandomState(seed).permutation(n_rows)


@dataclass
class PermutationDraws:
    """Permutations drawn ahead, in a thread, while the caller does other work.

    At Kaggle scale the split's permutation of 26 M rows took 2.0-2.4 s on one core here (the shuffle
    is random access over 209 MB) and depends only on the row count. The train stage knows that
    count once the features scan is done and starts the draw then, so it runs while the
    conversion to numpy does. numpy 2.4's ``RandomState`` shuffle holds the GIL (a Python loop in
    another thread waits for the whole draw), so the two share one interpreter; drawing in a forked
    process instead measured no faster (docs/model.md, "Train's read"). A draw for another count
    or seed than the one asked for is simply not used.
    """

    _started: dict[tuple[int, int], tuple[threading.Thread, list[np.ndarray]]] = field(default_factory=dict)
    _ready: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    #: the permutations :meth:`get` drew (not given by :meth:`provide`), by (rows, seed): what a
    #: cache of them (read_cache.py) does not hold yet
    drawn: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def provide(self, n_rows: int, seed: int, permutation: np.ndarray) -> None:
        """A permutation known already (read from a cache): :meth:`get` returns it, undrawn."""
        self._ready[(n_rows, seed)] = permutation

    def start(self, n_rows: int, seed: int) -> None:
        """Begin drawing ``RandomState(seed).permutation(n_rows)`` in a daemon thread."""
        if (n_rows, seed) in self._started or n_rows <= 0:
            return
        out: list[np.ndarray] = []
        thread = threading.Thread(
            target=lambda: out.append(draw_permutation(n_rows, seed)), name="permutation", daemon=True
        )
        thread.start()
        self._started[(n_rows, seed)] = (thread, out)

    def get(self, n_rows: int, seed: int) -> np.ndarray:
        """The permutation of ``n_rows`` for ``seed``: the one provided or drawn ahead if any (once),
        else drawn now."""
        ready = self._ready.pop((n_rows, seed), None)
        if ready is not None:
            return ready
        started = self._started.pop((n_rows, seed), None)
        permutation = None
        if started is not None:
            thread, out = started
            thread.join()
            permutation = out[0] if out else None  # an exception in the thread (memory) leaves it empty
        if permutation is None:
            permutation = draw_permutation(n_rows, seed)
        self.drawn[(n_rows, seed)] = permutation
        return permutation


def shuffled_split(
    n_rows: int, test_size: float, seed: int, draws: PermutationDraws | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``train_test_split(np.arange(n_rows), test_size=test_size, random_state=seed)``, row for row.

    scikit-learn's ShuffleSplit (sklearn/model_selection/_split.py ``_iter_indices``) draws
    ``RandomState(seed).permutation(n_rows)`` and takes its first ``ceil(test_size * n_rows)``
    entries as the test rows, the rest as the training rows; the split is computed the same way
    here without indexing an ``arange`` twice (a second over 26 M rows at Kaggle scale).
    tests/train/test_pure.py checks it against scikit-learn's own function. ``draws``: where a
    permutation may already be drawn (:class:`PermutationDraws`).
    """
    n_test = math.ceil(test_size * n_rows)
    if not 0 < n_test < n_rows:
        raise ValueError(f"test_size={test_size} leaves no training or no test row of {n_rows}")
    permutation = draws.get(n_rows, seed) if draws is not None else draw_permutation(n_rows, seed)
    return permutation[n_test:], permutation[:n_test]


def random_split(
    n_rows: int,
    max_scored: int,
    seed: int = RANDOM_SPLIT_SEED,
    test_size: float = 0.2,
    draws: PermutationDraws | None = None,
) -> Split:
    """The task's split: ``train_test_split(..., test_size=0.2, random_state=42)`` over the rows."""
    train, test = shuffled_split(n_rows, test_size, seed, draws)
    return Split(
        name=RANDOM_SPLIT,
        train=train,
        test=test,
        scored=score_rows(test, max_scored, seed),
        details={
            "method": f"sklearn train_test_split(test_size={test_size}, random_state={seed}) over all rows",
            "test_size": test_size,
            "random_state": seed,
        },
    )


def time_cutoff(day: np.ndarray, test_fraction: float) -> int:
    """The first day of the test period: the day at which ~``test_fraction`` of the rows remain.

    Rows on the cutoff day itself belong to the test period, so train and test share no date.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"time test fraction must be between 0 and 1, got {test_fraction}")
    cutoff = int(np.quantile(day, 1.0 - test_fraction, method="higher"))
    if cutoff <= int(day.min()):
        raise ValueError("every row has the same date: a time split needs at least two dates")
    return cutoff


def time_split(day: np.ndarray, test_fraction: float, max_scored: int, seed: int = 42) -> Split:
    """Train on the days before a cutoff, test on the cutoff day and after."""
    cutoff = time_cutoff(day, test_fraction)
    is_test = day >= cutoff
    train = np.flatnonzero(~is_test)
    test = np.flatnonzero(is_test)
    cutoff_date = str(np.datetime64(cutoff, "D"))
    return Split(
        name=TIME_SPLIT,
        train=train,
        test=test,
        scored=score_rows(test, max_scored, seed),
        details={
            "method": f"train on dates before {cutoff_date}, test on {cutoff_date} and later",
            "cutoff_date": cutoff_date,
            "target_test_fraction": test_fraction,
            "test_fraction": round(float(test.shape[0]) / day.shape[0], 6),
            "train_last_date": str(np.datetime64(int(day[train].max()), "D")) if train.size else None,
            "test_last_date": str(np.datetime64(int(day[test].max()), "D")),
        },
    )
