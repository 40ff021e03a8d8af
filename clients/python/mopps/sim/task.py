"""A synthetic RLVR task that measures what prompt selection saves, against a live moppsd.

The environment (documented so results can be checked):

- N prompts with latent difficulty d_i; a policy with one skill θ; prompt i is solved by a rollout
  with probability p_i = sigmoid(θ − d_i), independently per rollout (Bernoulli rewards).
- Each training step uses a batch of B prompts × k rollouts. A group whose k rewards are all 0 or
  all 1 gives GRPO no gradient; the policy improves by θ ← θ + lr · (mixed groups trained on).
  Optionally the skill jumps by ``jump`` at step ``jump_at``.
- "Accuracy" is the expected success rate over the whole prompt set, mean_i p_i.

Scenarios (:func:`scenario`):

- ``stationary``: d_i ~ Normal(0, difficulty_spread).
- ``drifting``: as stationary, but at step ``drift_at`` a share ``drift_share`` of the prompts
  (chosen at random) swap hard for easy: d_i ← −d_i (the distribution of difficulties stays the
  same, each changed prompt's history is wrong from then on; decay and DPS's dynamics should pay off).
- ``skewed``: a share ``skew_share`` of the prompts are always solved (d = −12) or never solved
  (d = +12), half each; the rest as stationary (real math sets: most prompts carry no signal).

Strategies, all with the same seeds (same task, same candidate draws where they apply):

- ``uniform``: B prompts uniformly at random.
- ``dynamic-sampling`` (DAPO): draw B prompts at a time, roll them out, keep the mixed groups,
  repeat until B mixed groups are collected or ``max_num_gen_batches`` draws were made (verl's cap;
  verl then stops with an error, the simulator trains on what it has and counts the hit). Every
  generated rollout is counted.
- ``greso-ds``: GRESO's own loop: draw ``greso_sampling_ratio × B`` candidates, skip by GRESO's rule
  (:class:`mopps.sim.rules.GRESO`, simulator-side), roll out the rest, keep mixed groups, repeat up
  to the cap; p adapts once per step from every group generated in it.
- ``mopps-topk`` / ``mopps-threshold`` / ``dps`` / ``greso`` / ``pools``: the client draws
  ts_ratio × B candidates and asks moppsd (Select) for B of them, then reports the rewards (Update).
  Numbers come from the real sidecar.
- ``oracle``: the B candidates whose true p is nearest 0.5.

Per step the CSV records rollouts spent (cumulative), the effective ratio (mixed groups / groups
trained on), accuracy, skill, generation batches and cap hits (dynamic sampling), and for the
sidecar strategies the Spearman correlation between posterior means (Get; every pool keeps its Beta
posterior) and true p over the prompts this run has rolled out so far.

    python -m mopps.sim --quick                 # ~30 s: one seed, prints a summary and writes plots
    python -m mopps.sim --scenarios stationary,drifting,skewed --seeds 0,1,2   # make evidence
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional

import numpy as np
import numpy.typing as npt

from . import rules

if TYPE_CHECKING:
    from ..client import Client

#: One step of a run: step, rollouts (cumulative), accuracy, skill, effective_ratio, spearman,
#: gen_batches, cap_hit.
Row = Dict[str, float]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

STRATEGIES = ("uniform", "dynamic-sampling", "greso-ds", "mopps-topk", "mopps-threshold", "dps", "greso", "pools",
              "oracle")
#: Strategies served by moppsd (the rest run in the simulator).
SIDECAR_STRATEGIES = ("mopps-topk", "mopps-threshold", "dps", "greso", "pools")
#: Strategies whose runs take each λ of ``--decays``.
DECAY_STRATEGIES = ("mopps-topk", "mopps-threshold", "dps")
SCENARIOS = ("stationary", "drifting", "skewed")


@dataclasses.dataclass
class TaskConfig:
    prompts: int = 1000
    batch: int = 64
    rollouts: int = 8
    ts_ratio: int = 8
    difficulty_spread: float = 3.0
    skill0: float = -1.5
    lr: float = 0.0003
    steps: int = 400
    target_accuracy: float = 0.55
    jump_at: int = -1
    jump: float = 0.0
    max_num_gen_batches: int = 10  # dynamic sampling: at most this many draws per step (verl's cap)
    greso_sampling_ratio: float = 1.5  # GRESO's scripts: sampling batch 384 for a train batch of 256
    scenario: str = "stationary"
    drift_at: int = 60
    drift_share: float = 0.5
    skew_share: float = 0.7

    def __post_init__(self) -> None:
        if self.prompts < self.batch * self.ts_ratio:
            raise ValueError("prompts must be at least batch × ts_ratio")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; one of {', '.join(SCENARIOS)}")


def scenario(name: str, **overrides: Any) -> TaskConfig:
    """The task settings of a scenario: the skewed one's target is lower, since its always- and
    never-solved prompts pin most of the accuracy (0.35 + 0.3 × the learnable prompts' rate)."""
    base: Dict[str, Any] = {"scenario": name}
    if name == "skewed":
        # Uniform sampling finds a mixed group in ~1 of 6 draws here: it needs the longer run.
        base.update(target_accuracy=0.50, steps=600)
    base.update(overrides)
    return TaskConfig(**base)


class Task:
    """The simulated environment: difficulties, the policy's skill, Bernoulli rollouts."""

    def __init__(self, config: TaskConfig, seed: int) -> None:
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.difficulty = self.rng.normal(0.0, config.difficulty_spread, size=config.prompts)
        # The scenarios' own draws come from a second generator, so the stationary task (and every
        # rollout draw of it) is the same as before scenarios existed.
        extra = np.random.default_rng(seed + 20_000)
        if config.scenario == "skewed":
            fixed = extra.permutation(config.prompts)[: int(round(config.skew_share * config.prompts))]
            self.difficulty[fixed[: len(fixed) // 2]] = -12.0
            self.difficulty[fixed[len(fixed) // 2:]] = 12.0
        self._drifting = extra.permutation(config.prompts)[: int(round(config.drift_share * config.prompts))]
        self.skill = config.skill0

    def success_prob(self, ids: Optional[IntArray] = None) -> FloatArray:
        d = self.difficulty if ids is None else self.difficulty[ids]
        return 1.0 / (1.0 + np.exp(-(self.skill - d)))

    def accuracy(self) -> float:
        return float(self.success_prob().mean())

    def rollout(self, ids: IntArray) -> IntArray:
        """Successes out of k rollouts for each prompt."""
        return self.rng.binomial(self.config.rollouts, self.success_prob(ids))

    def learn(self, mixed_groups: int, step: int) -> None:
        self.skill += self.config.lr * mixed_groups
        if step == self.config.jump_at:
            self.skill += self.config.jump
        if self.config.scenario == "drifting" and step == self.config.drift_at:
            self.difficulty[self._drifting] = -self.difficulty[self._drifting]


def spearman(a: FloatArray, b: FloatArray) -> float:
    """Spearman's rank correlation (NaN below 3 values or without spread)."""
    if len(a) < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _pool_settings(strategy: str, decay: float) -> Dict[str, Any]:
    if strategy.startswith("mopps-"):
        return {"strategy": strategy.split("-")[1], "decay": decay}
    if strategy == "dps":
        return {"strategy": "dps", "dps": {"decay": decay}}
    return {"strategy": strategy}


def run(strategy: str, config: TaskConfig, seed: int, client: Optional[Client] = None, decay: float = 1.0,
        progress: Optional[Callable[[int], None]] = None, timings: Optional[List[float]] = None) -> List[Row]:
    """One training run; returns one row per step. Sidecar strategies need a connected client.
    ``timings``, when given, receives each step's selection time in milliseconds (the Select round
    trip for the sidecar strategies, the in-process choice for the others)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    task = Task(config, seed)
    # Candidate draws come from their own generator so every strategy sees the same candidates.
    draws = np.random.default_rng(seed + 10_000)
    skip_rng = np.random.default_rng(seed + 30_000)  # greso-ds's skip draws
    pool: Optional[str] = None
    sidecar: Optional[Client] = None
    if strategy in SIDECAR_STRATEGIES:
        if client is None:
            raise ValueError(f"{strategy} runs in moppsd: it needs a client")
        sidecar = client
        pool = f"sim-{strategy}-s{seed}-d{str(decay).replace('.', '_')}-{os.getpid()}-{time.monotonic_ns()}"
        client.create_pool(pool, seed=seed, **_pool_settings(strategy, decay))
    greso = rules.GRESO() if strategy == "greso-ds" else None
    seen = np.zeros(config.prompts, dtype=bool)
    rollouts_spent = 0
    rows: List[Row] = []
    b, k = config.batch, config.rollouts
    for step in range(1, config.steps + 1):
        candidates = draws.choice(config.prompts, size=b * config.ts_ratio, replace=False)
        t0 = time.perf_counter()
        batch: Optional[IntArray] = None
        if strategy == "uniform":
            batch = candidates[:b]
        elif strategy == "oracle":
            p = task.success_prob(candidates)
            batch = candidates[np.argsort(np.abs(p - 0.5), kind="stable")[:b]]
        elif sidecar is not None and pool is not None:
            batch = sidecar.select(pool, b, candidates=candidates.astype(np.uint64)).ids.astype(np.int64)
        select_ms = (time.perf_counter() - t0) * 1e3
        gen_batches, cap_hit = 1, 0
        if batch is not None:
            successes = task.rollout(batch)
            rollouts_spent += b * k
            mixed = int(np.sum((successes > 0) & (successes < k)))
            trained_groups = b
            if sidecar is not None and pool is not None:
                sidecar.update(pool, batch.astype(np.uint64), successes.astype(float), rollouts=k)
            seen[batch] = True
        elif strategy == "dynamic-sampling":
            mixed = 0
            for attempt in range(config.max_num_gen_batches):
                draw = candidates[:b] if attempt == 0 else draws.choice(config.prompts, size=b, replace=False)
                successes = task.rollout(draw)
                rollouts_spent += b * k
                gen_batches = attempt + 1
                keep = (successes > 0) & (successes < k)
                mixed += min(int(keep.sum()), b - mixed)
                if mixed >= b:
                    break
            cap_hit = int(mixed < b)
            trained_groups = mixed
        else:  # greso-ds
            assert greso is not None
            mixed, select_ms = 0, 0.0
            size = min(config.prompts, int(round(config.greso_sampling_ratio * b)))
            for attempt in range(config.max_num_gen_batches):
                draw = candidates[:size] if attempt == 0 else draws.choice(config.prompts, size=size, replace=False)
                t0 = time.perf_counter()
                kept = draw[~greso.skipped(draw, skip_rng)[0]]
                select_ms += (time.perf_counter() - t0) * 1e3
                gen_batches = attempt + 1
                if kept.size == 0:
                    continue
                successes = task.rollout(kept)
                rollouts_spent += kept.size * k
                greso.update(kept, successes, np.full(kept.size, float(k)), step=step)
                keep = (successes > 0) & (successes < k)
                mixed += min(int(keep.sum()), b - mixed)
                if mixed >= b:
                    break
            cap_hit = int(mixed < b)
            trained_groups = mixed
        if timings is not None:
            timings.append(select_ms)
        task.learn(mixed, step)
        row: Row = {
            "step": step, "rollouts": rollouts_spent, "accuracy": task.accuracy(), "skill": task.skill,
            "effective_ratio": mixed / trained_groups if trained_groups else 0.0,
            "spearman": float("nan"), "gen_batches": gen_batches, "cap_hit": cap_hit,
        }
        if sidecar is not None and pool is not None and step % 5 == 0:
            ids = np.flatnonzero(seen)
            post = sidecar.get(pool, ids.astype(np.uint64))
            row["spearman"] = spearman(post.means, task.success_prob(ids))
        rows.append(row)
        if progress:
            progress(step)
    if sidecar is not None and pool is not None:
        sidecar.drop_pool(pool)
    return rows
