"""Straightforward numpy re-implementations of the published pre-rollout rules moppsd serves
(docs/strategies.md states them; the public code is the authority): DPS (maoyixiu/DPS,
``recipe/dps/task_sampler.py``), GRESO's probabilistic skip (Infini-AI-Lab/GRESO,
``verl/trainer/ttis/presampling_selector.py`` and its trainer's p adaptation) and prime-rl-style
difficulty pools. They are written for clarity, not speed (DPS moves every seen prompt eagerly, one
dict entry per prompt, like the original), and serve as the oracle of the differential tests and as
the simulator's sim-side GRESO + dynamic sampling baseline.

Steps: ``update(..., step=s)`` calls with the same ``s`` are one training step (several
data-parallel ranks reporting their parts); ``step=None`` makes each call its own step. The per-step
parts (DPS moving every prompt not observed in the step, GRESO adapting p) run once per step.

>>> import numpy as np
>>> dps = DPS(decay=0.7)
>>> dps.select(np.array([1, 2, 3]), 2).tolist()     # all unseen: π = 1/3 each, candidate order
[1, 2]
>>> dps.update(np.array([1, 2]), np.array([4.0, 8.0]), np.array([8.0, 8.0]))
>>> dps.predicted(np.array([1, 2, 3])).round(3).tolist()[0]
[0.3, 0.4, 0.3]
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: DPS prior presets (A0[next][prev]) as in the original's ``hmm_prior_alpha``.
DPS_PRIORS: Dict[str, FloatArray] = {
    "uniform": np.ones((3, 3)),
    "progress": np.array([[1.0, 0.5, 0.5], [1.0, 1.0, 0.5], [1.0, 1.0, 1.0]]),
    "stability": np.array([[1.0, 0.5, 0.5], [0.5, 1.0, 0.5], [0.5, 0.5, 1.0]]),
    "local": np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0], [0.0, 1.0, 1.0]]),
}


def _ids(x: npt.ArrayLike) -> List[int]:
    return [int(i) for i in np.asarray(x).ravel()]


class _Steps:
    """Groups updates into training steps: returns True when ``step`` starts a new one."""

    def __init__(self) -> None:
        self.current: Optional[int] = None
        self.count = 0

    def begins(self, step: Optional[int]) -> bool:
        if step is not None and self.current is not None and step < self.current:
            raise ValueError(f"step {step} is lower than the latest step {self.current}")
        new = step is None or step != self.current
        if new:
            self.count += 1
        self.current = step if step is not None else None
        return new


# -- DPS ------------------------------------------------------------------------------------------


def dps_transition(a: FloatArray) -> FloatArray:
    """The expected transition matrix: each column of the counts divided by its sum
    (P[i][j] = probability of moving to state i from state j)."""
    return np.asarray(a / a.sum(axis=0, keepdims=True), dtype=np.float64)


def dps_observed_state(successes: float, trials: float) -> int:
    """0 = unsolved (accuracy 0), 1 = partly solved, 2 = solved (accuracy 1)."""
    mean = successes / trials
    return 0 if mean == 0.0 else 2 if mean == 1.0 else 1


def dps_predict(a: FloatArray, x: FloatArray) -> FloatArray:
    """normalise(normalise(P(A) · x)): the original normalises in ``predict_next_state`` and again
    after it, and the second division can move the last bit."""
    y = dps_transition(a) @ x
    y = y / y.sum()
    return np.asarray(y / y.sum(), dtype=np.float64)


def entropy(pi: FloatArray) -> FloatArray:
    """The original's H(π) = −Σ π log(π + 1e−10), along the last axis."""
    return np.asarray(-np.sum(pi * np.log(pi + 1e-10), axis=-1), dtype=np.float64)


@dataclasses.dataclass
class _DPSPrompt:
    a: FloatArray
    pi: FloatArray
    pi_prev: FloatArray
    visits: int = 0


class DPS:
    """DPS: per prompt a 3×3 Dirichlet count matrix A, the predicted state distribution π and the
    previous one π_prev; every prompt that was a candidate moves one step per training step.

    Eager, as the original: when a training step opens, every prompt seen before it makes the
    passive move at once (its previous state kept aside); an observation in the step puts the prompt
    back to that previous state and applies the observed rule (again, for a second observation in
    the same step). A prompt first seen during a step takes part from the next one.

    Selection is deterministic: the B candidates with the largest score (π[1], the "partly solved"
    probability, plus ``entropy_weight`` × H(π) for ``topk+entropy``), ties broken by candidate
    order (a stable sort of the negated scores)."""

    def __init__(self, *, decay: float = 1.0, prior: str = "uniform", prior_counts: Optional[Sequence[float]] = None,
                 selection: str = "topk", entropy_weight: float = 0.0) -> None:
        if prior_counts is not None:
            self.a0 = np.asarray(prior_counts, dtype=np.float64).reshape(3, 3)
        else:
            self.a0 = DPS_PRIORS[prior].copy()
        if selection not in ("topk", "topk+entropy"):
            raise ValueError(f"selection {selection!r}")
        self.decay, self.selection, self.entropy_weight = float(decay), selection, float(entropy_weight)
        self.prompts: Dict[int, _DPSPrompt] = {}
        self.steps = _Steps()
        self._before: Dict[int, _DPSPrompt] = {}  # state before the open step's passive move
        self._observed: set[int] = set()  # observed in the open step

    def _prompt(self, i: int) -> _DPSPrompt:
        if i not in self.prompts:
            u = np.full(3, 1.0 / 3.0)
            self.prompts[i] = _DPSPrompt(self.a0.copy(), u.copy(), u.copy())
        return self.prompts[i]

    def scores(self, ids: npt.ArrayLike) -> FloatArray:
        pi = self.predicted(ids)
        s = pi[:, 1].copy()
        if self.selection == "topk+entropy":
            s = s + self.entropy_weight * entropy(pi)
        return s

    def select(self, candidates: npt.ArrayLike, batch_size: int) -> IntArray:
        """The chosen ids (in score order); every candidate becomes a seen prompt."""
        c = np.asarray(candidates, dtype=np.int64)
        for i in _ids(c):
            self._prompt(i)
        order = np.argsort(-self.scores(c), kind="stable")[:batch_size]
        return c[order]

    def predicted(self, ids: npt.ArrayLike) -> FloatArray:
        """π of each id, (n, 3); the initial uniform distribution for unseen ids."""
        out = np.full((len(_ids(ids)), 3), 1.0 / 3.0)
        for k, i in enumerate(_ids(ids)):
            if i in self.prompts:
                out[k] = self.prompts[i].pi
        return out

    def _decayed(self, a: FloatArray) -> FloatArray:
        return np.asarray(a * self.decay + self.a0 * (1.0 - self.decay), dtype=np.float64)

    def update(self, ids: npt.ArrayLike, successes: npt.ArrayLike, trials: npt.ArrayLike,
               step: Optional[int] = None) -> None:
        """Observes each id's group (state from successes / trials)."""
        if self.steps.begins(step):
            self._open_step()
        for i, s, t in zip(_ids(ids), np.asarray(successes, float).ravel(), np.asarray(trials, float).ravel()):
            p = self._prompt(i)
            if i in self._before and i not in self._observed:
                p = self.prompts[i] = self._before[i]
            o = dps_observed_state(float(s), float(t))
            e = np.zeros(3)
            e[o] = 1.0
            num = np.outer(e, p.pi_prev) * dps_transition(p.a)
            total = num.sum()
            # Only zero prior counts (the local preset) make an observed jump impossible: no soft counts.
            u = num / total if total > 0 else np.zeros((3, 3))
            a = self._decayed(p.a) + u
            self.prompts[i] = _DPSPrompt(a, dps_predict(a, e), e, p.visits + 1)
            self._observed.add(i)

    def _open_step(self) -> None:
        """The passive move of every prompt seen so far (kept undoable for the step's observations)."""
        self._before, self._observed = {}, set()
        for i, p in self.prompts.items():
            self._before[i] = p
            a = self._decayed(p.a)
            self.prompts[i] = _DPSPrompt(a, dps_predict(a, p.pi), p.pi, p.visits)


# -- GRESO ----------------------------------------------------------------------------------------


@dataclasses.dataclass
class GRESOConfig:
    p_easy: float = 0.5
    p_hard: float = 0.5
    target_zero_share: float = 0.25
    easy_threshold: float = 0.98
    hard_threshold: float = 0.11
    step_size: float = 0.01
    p_min: float = 0.05
    p_max: float = 0.95
    keep_floor: float = 0.01
    adapt: bool = True


def greso_skip_probability(p: float, run: npt.ArrayLike, floor: float = 0.01) -> FloatArray:
    """1 − max(p^run, floor); 0 for run 0."""
    r = np.asarray(run, dtype=np.float64)
    return np.where(r > 0, 1.0 - np.maximum(p ** r, floor), 0.0)


def greso_adapt(p: float, zero_share: float, target: float, config: GRESOConfig) -> float:
    """One step of the adaptive exploration: lower p (skip more) when the zero-variance share reached
    its target, raise it otherwise, within [p_min, p_max]."""
    if zero_share >= target:
        return max(p - config.step_size, config.p_min)
    return min(p + config.step_size, config.p_max)


class GRESO:
    """GRESO's skip state: per prompt the easy run (latest consecutive group means ≥ easy_threshold)
    and hard run (≤ hard_threshold); p_easy / p_hard adapted once per training step from the share
    of the step's groups that were all solved / all failed."""

    def __init__(self, config: Optional[GRESOConfig] = None, **overrides: Any) -> None:
        self.config = dataclasses.replace(config or GRESOConfig(), **overrides)
        self.p_easy, self.p_hard = self.config.p_easy, self.config.p_hard
        self.easy_run: Dict[int, int] = {}
        self.hard_run: Dict[int, int] = {}
        self.steps = _Steps()
        self._start = (self.p_easy, self.p_hard)  # p at the start of the current step
        self._groups = [0, 0, 0]  # this step's groups: all solved, all failed, total

    def runs(self, ids: npt.ArrayLike) -> Tuple[IntArray, IntArray]:
        i = _ids(ids)
        return (np.array([self.easy_run.get(k, 0) for k in i], dtype=np.int64),
                np.array([self.hard_run.get(k, 0) for k in i], dtype=np.int64))

    def skip_probabilities(self, ids: npt.ArrayLike) -> Tuple[FloatArray, FloatArray]:
        """(P(skipped as easy), P(skipped at all)) per id, the hard test running only on candidates the
        easy test kept."""
        e, h = self.runs(ids)
        pe = greso_skip_probability(self.p_easy, e, self.config.keep_floor)
        ph = greso_skip_probability(self.p_hard, h, self.config.keep_floor)
        return pe, pe + (1.0 - pe) * ph

    def skipped(self, ids: npt.ArrayLike, rng: np.random.Generator) -> Tuple[npt.NDArray[np.bool_], IntArray]:
        """One draw of the skip test per id: (skipped, the run behind each skip: e when skipped as
        easy, h when skipped as hard, 0 when kept)."""
        e, h = self.runs(ids)
        cfg = self.config
        pe = greso_skip_probability(self.p_easy, e, cfg.keep_floor)
        ph = greso_skip_probability(self.p_hard, h, cfg.keep_floor)
        easy = rng.random(len(e)) < pe
        hard = ~easy & (rng.random(len(e)) < ph)
        return np.asarray(easy | hard), np.where(easy, e, np.where(hard, h, 0))

    def select(self, candidates: npt.ArrayLike, batch_size: int, rng: np.random.Generator) -> IntArray:
        """B uniformly among the kept candidates; when fewer are kept, all of them (candidate order)
        and then the skipped ones, fewest skips first (the run behind the skip), candidate order
        among equals."""
        c = np.asarray(candidates, dtype=np.int64)
        skip, run = self.skipped(c, rng)
        kept = c[~skip]
        if len(kept) >= batch_size:
            return np.asarray(rng.choice(kept, size=batch_size, replace=False), dtype=np.int64)
        rest = np.flatnonzero(skip)
        fill = c[rest[np.argsort(run[rest], kind="stable")[: batch_size - len(kept)]]]
        return np.concatenate([kept, fill])

    def update(self, ids: npt.ArrayLike, successes: npt.ArrayLike, trials: npt.ArrayLike,
               step: Optional[int] = None) -> None:
        cfg = self.config
        if self.steps.begins(step):
            self._start = (self.p_easy, self.p_hard)
            self._groups = [0, 0, 0]
        for i, s, t in zip(_ids(ids), np.asarray(successes, float).ravel(), np.asarray(trials, float).ravel()):
            mean = s / t
            self.easy_run[i] = self.easy_run.get(i, 0) + 1 if mean >= cfg.easy_threshold else 0
            self.hard_run[i] = self.hard_run.get(i, 0) + 1 if mean <= cfg.hard_threshold else 0
            self._groups[0] += int(s == t)
            self._groups[1] += int(s == 0)
            self._groups[2] += 1
        if cfg.adapt and self._groups[2]:
            z_easy, z_hard = self._groups[0] / self._groups[2], self._groups[1] / self._groups[2]
            self.p_easy = greso_adapt(self._start[0], z_easy, cfg.target_zero_share / 3, cfg)
            self.p_hard = greso_adapt(self._start[1], z_hard, 2 * cfg.target_zero_share / 3, cfg)


# -- difficulty pools -----------------------------------------------------------------------------


@dataclasses.dataclass
class PoolsConfig:
    hard_max: float = 0.25
    easy_min: float = 0.75
    weight_hard: float = 0.2
    weight_normal: float = 1.0
    weight_easy: float = 0.2
    weight_unseen: float = 1.0


class Pools:
    """prime-rl-style difficulty pools: the latest group mean per prompt decides its pool
    (hard ≤ hard_max, easy > easy_min, normal between, unseen), the pool its weight; B drawn by
    weight without replacement (successive draws proportional to the remaining weights)."""

    def __init__(self, config: Optional[PoolsConfig] = None, **overrides: Any) -> None:
        self.config = dataclasses.replace(config or PoolsConfig(), **overrides)
        self.last_mean: Dict[int, float] = {}

    def weights(self, ids: npt.ArrayLike) -> FloatArray:
        c = self.config
        out = []
        for i in _ids(ids):
            m = self.last_mean.get(i)
            if m is None:
                out.append(c.weight_unseen)
            elif m <= c.hard_max:
                out.append(c.weight_hard)
            elif m > c.easy_min:
                out.append(c.weight_easy)
            else:
                out.append(c.weight_normal)
        return np.array(out, dtype=np.float64)

    def select(self, candidates: npt.ArrayLike, batch_size: int, rng: np.random.Generator) -> IntArray:
        c = np.asarray(candidates, dtype=np.int64)
        w = self.weights(c)
        positive = c[w > 0]
        if len(positive) < batch_size:  # zero-weight candidates only to fill, uniformly
            zero = rng.choice(c[w == 0], size=batch_size - len(positive), replace=False)
            return np.concatenate([rng.permutation(positive), zero])
        return np.asarray(rng.choice(c[w > 0], size=batch_size, replace=False, p=w[w > 0] / w[w > 0].sum()),
                          dtype=np.int64)

    def update(self, ids: npt.ArrayLike, successes: npt.ArrayLike, trials: npt.ArrayLike,
               step: Optional[int] = None) -> None:
        for i, s, t in zip(_ids(ids), np.asarray(successes, float).ravel(), np.asarray(trials, float).ravel()):
            self.last_mean[i] = float(s / t)


def inclusion_probabilities(weights: npt.ArrayLike, batch_size: int) -> FloatArray:
    """Exact P(item i is among the B drawn) for successive weighted draws without replacement, by
    summing over every ordered sequence of draws (fine for up to ~10 items)."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    total = w.sum()
    out = np.zeros(n)
    for seq in itertools.permutations(range(n), batch_size):
        p, left = 1.0, total
        for i in seq:
            p *= w[i] / left
            left -= w[i]
        out[list(seq)] += p
    return out
