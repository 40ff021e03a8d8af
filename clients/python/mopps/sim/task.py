"""A synthetic RLVR task that measures what prompt selection saves, against a live moppsd.

The environment (documented so results can be checked):

- N prompts with latent difficulty d_i ~ Normal(0, difficulty_spread).
- A policy with one skill θ; prompt i is solved by a rollout with probability
  p_i = sigmoid(θ − d_i), independently per rollout (Bernoulli rewards).
- Each training step uses a batch of B prompts × k rollouts. A group whose k rewards are all 0 or
  all 1 gives GRPO no gradient; the policy improves by θ ← θ + lr · (mixed groups in the batch).
  Optionally the skill jumps by ``jump`` at step ``jump_at`` (non-stationarity).
- "Accuracy" is the expected success rate over the whole prompt set, mean_i p_i.

Strategies, all with the same seeds (same task, same candidate draws where they apply):

- ``uniform``: B prompts uniformly at random.
- ``dynamic-sampling`` (DAPO): draw B prompts at a time, roll them out, keep the mixed groups,
  repeat until B mixed groups are collected (every generated rollout is counted).
- ``mopps-topk`` / ``mopps-threshold``: the client draws ts_ratio × B candidates and asks moppsd
  (Select) for B of them, then reports the rewards (Update). Numbers come from the real sidecar.
- ``oracle``: the B candidates whose true p is nearest 0.5.

Per step the CSV records rollouts spent (cumulative), the effective ratio (mixed groups / groups
trained on), accuracy, skill and, for MoPPS, the Spearman correlation between posterior means and true
p over the prompts rolled out so far.

    python -m mopps.sim --quick                 # ~30 s: one seed, prints a summary and writes plots
    python -m mopps.sim --seeds 0,1,2 --decays 1,0.5 --out sim-out   # the full sweep (make evidence)
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING, Callable, Dict, List, Optional

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ..client import Client

#: One step of a run: step, rollouts (cumulative), accuracy, skill, effective_ratio, spearman.
Row = Dict[str, float]
IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

STRATEGIES = ("uniform", "dynamic-sampling", "mopps-topk", "mopps-threshold", "oracle")


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
    max_resample: int = 50  # dynamic sampling: at most this many draws per step

    def __post_init__(self) -> None:
        if self.prompts < self.batch * self.ts_ratio:
            raise ValueError("prompts must be at least batch × ts_ratio")


class Task:
    """The simulated environment: difficulties, the policy's skill, Bernoulli rollouts."""

    def __init__(self, config: TaskConfig, seed: int) -> None:
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.difficulty = self.rng.normal(0.0, config.difficulty_spread, size=config.prompts)
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


def spearman(a: FloatArray, b: FloatArray) -> float:
    """Spearman's rank correlation (NaN below 3 values or without spread)."""
    if len(a) < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def run(strategy: str, config: TaskConfig, seed: int, client: Optional[Client] = None, decay: float = 1.0,
        progress: Optional[Callable[[int], None]] = None) -> List[Row]:
    """One training run; returns one row per step. MoPPS strategies need a connected client."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    task = Task(config, seed)
    # Candidate draws come from their own generator so every strategy sees the same candidates.
    draws = np.random.default_rng(seed + 10_000)
    pool: Optional[str] = None
    sidecar: Optional[Client] = None  # the client, for the MoPPS strategies
    if strategy.startswith("mopps"):
        if client is None:
            raise ValueError("MoPPS strategies need a moppsd client")
        sidecar = client
        pool = f"sim-{strategy}-s{seed}-d{str(decay).replace('.', '_')}-{os.getpid()}-{time.monotonic_ns()}"
        client.create_pool(pool, decay=decay, seed=seed, strategy=strategy.split("-")[1])
    seen = np.zeros(config.prompts, dtype=bool)
    rollouts_spent = 0
    rows: List[Row] = []
    b, k = config.batch, config.rollouts
    for step in range(1, config.steps + 1):
        candidates = draws.choice(config.prompts, size=b * config.ts_ratio, replace=False)
        if strategy == "uniform":
            batch = candidates[:b]
        elif strategy == "oracle":
            p = task.success_prob(candidates)
            batch = candidates[np.argsort(np.abs(p - 0.5), kind="stable")[:b]]
        elif sidecar is not None and pool is not None:
            batch = sidecar.select(pool, b, candidates=candidates.astype(np.uint64)).ids.astype(np.int64)
        else:  # dynamic sampling
            batch = None
        if batch is not None:
            successes = task.rollout(batch)
            rollouts_spent += b * k
            mixed = int(np.sum((successes > 0) & (successes < k)))
            trained_groups = b
            if sidecar is not None and pool is not None:
                sidecar.update(pool, batch.astype(np.uint64), successes.astype(float), rollouts=k)
            seen[batch] = True
        else:
            mixed = 0
            trained_groups = 0
            for attempt in range(config.max_resample):
                draw = candidates[:b] if attempt == 0 else draws.choice(config.prompts, size=b, replace=False)
                successes = task.rollout(draw)
                rollouts_spent += b * k
                keep = (successes > 0) & (successes < k)
                take = min(int(keep.sum()), b - mixed)
                mixed += take
                if mixed >= b:
                    break
            trained_groups = mixed
        task.learn(mixed, step)
        row = {
            "step": step, "rollouts": rollouts_spent, "accuracy": task.accuracy(), "skill": task.skill,
            "effective_ratio": mixed / trained_groups if trained_groups else 0.0,
            "spearman": float("nan"),
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
