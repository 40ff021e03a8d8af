"""The prompt-selection strategies compared through TRL's ``GRPOTrainer``, by name.

* ``uniform``: ``trl.GRPOTrainer`` itself (its ``RepeatSampler``: shuffled, without replacement).
* ``dynamic-sampling``: :class:`DynamicSamplingGRPOTrainer`, DAPO's filter as verl implements it
  (``algorithm.filter_groups``): groups whose rewards are all equal are dropped and fresh prompts are
  generated until the batch has its number of mixed groups, at most ``max_num_gen_batches``
  generation rounds per step; every rollout generated counts against the budget.
* ``mopps-topk``: :class:`mopps.trl.MoPPSGRPOTrainer` (MoPPS: Thompson sampling, the B nearest 0.5).
* ``dps``, ``greso``, ``pools``: the same plug-in with ``mopps_strategy`` set to the strategy-zoo
  entry moppsd serves (docs/strategies.md) and ``mopps_strategy_config`` its settings; ``dps`` and
  ``greso`` report with ``step=global_step`` (the plug-in does that for the per-step rules).

A new server-side strategy is one more :class:`Strategy` entry of kind ``"mopps"``; nothing else
changes.

Every trainer here also records, per generation round, the prompt indices and rewards it scored,
the step, and the round's wall time (:class:`RoundRecord`), which is all the report needs.

>>> STRATEGIES["mopps-topk"].kind                  # doctest: +SKIP
'mopps'
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

try:
    import torch
    from trl import GRPOTrainer
except ImportError as e:  # pragma: no cover - the harness needs the test-verl venv
    raise SystemExit(f"evidence_real needs torch and trl (make test-verl builds .venv-verl): {e}") from e

from mopps.trl import MoPPSGRPOTrainer


@dataclass(frozen=True)
class Strategy:
    """One compared strategy: ``kind`` picks the trainer class; a ``"mopps"`` strategy passes
    ``mopps_strategy`` and ``strategy_config`` to ``MoPPSGRPOTrainer`` (its ``mopps_strategy`` and
    ``mopps_strategy_config``)."""

    name: str
    kind: str  # "uniform" | "dynamic-sampling" | "mopps"
    mopps_strategy: Optional[str] = None
    strategy_config: Dict[str, Any] = field(default_factory=dict)
    candidates_ratio: float = 8.0
    max_num_gen_batches: int = 8


STRATEGIES: Dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("uniform", "uniform"),
        Strategy("dynamic-sampling", "dynamic-sampling"),
        Strategy("mopps-topk", "mopps", "topk"),
        # λ = 0.5: the decay the simulator found best for DPS (docs/evidence.md); the rest as published.
        Strategy("dps", "mopps", "dps", {"decay": 0.5}),
        Strategy("greso", "mopps", "greso"),
        Strategy("pools", "mopps", "pools"),
    )
}


@dataclass
class RoundRecord:
    """One generation round: the optimizer step it fed, the prompt index of each completion, its
    reward, which groups were trained on (all, except under dynamic sampling) and its wall time."""

    step: int
    ids: np.ndarray
    rewards: np.ndarray
    kept_groups: Optional[np.ndarray] = None
    seconds: float = 0.0


class RecordingMixin:
    """Records every training generation round of a ``GRPOTrainer`` (single process)."""

    rounds: List[RoundRecord]
    index_key = "index"

    def _record_init(self) -> None:
        self.rounds = []

    def _calculate_rewards(self, inputs: List[Dict[str, Any]], prompts: List[Any], completions: List[Any],
                           completion_ids_list: List[Any]) -> Any:
        rewards_per_func = super()._calculate_rewards(  # type: ignore[misc]
            inputs, prompts, completions, completion_ids_list)
        if self.model.training:  # type: ignore[attr-defined]
            weights = self.reward_weights.to(rewards_per_func.device).unsqueeze(0)  # type: ignore[attr-defined]
            total = (rewards_per_func * weights).nansum(dim=1).detach().cpu().numpy()
            ids = np.asarray([int(row[self.index_key]) for row in inputs], dtype=np.int64)
            self.rounds.append(RoundRecord(int(self.state.global_step), ids, total))  # type: ignore[attr-defined]
        return rewards_per_func

    def _generate_and_score_completions(self, inputs: List[Dict[str, Any]]) -> Dict[str, Any]:
        t0 = time.perf_counter()
        out: Dict[str, Any] = super()._generate_and_score_completions(inputs)  # type: ignore[misc]
        if self.model.training and self.rounds:  # type: ignore[attr-defined]
            self.rounds[-1].seconds = time.perf_counter() - t0
        return out


class UniformGRPOTrainer(RecordingMixin, GRPOTrainer):  # type: ignore[misc]
    """``trl.GRPOTrainer`` unchanged, recording its rounds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._record_init()


class RecordingMoPPSGRPOTrainer(RecordingMixin, MoPPSGRPOTrainer):  # type: ignore[misc]
    """``mopps.trl.MoPPSGRPOTrainer`` unchanged, recording its rounds."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._record_init()


def _pad_cat(tensors: List[Any], pad: float, side: str) -> Any:
    width = max(t.shape[1] for t in tensors)
    out = []
    for t in tensors:
        fill = t.new_full((t.shape[0], width - t.shape[1]), pad)
        out.append(torch.cat([fill, t] if side == "left" else [t, fill], dim=1))
    return torch.cat(out, dim=0)


class DynamicSamplingGRPOTrainer(RecordingMixin, GRPOTrainer):  # type: ignore[misc]
    """``GRPOTrainer`` with dynamic sampling (DAPO; verl's ``algorithm.filter_groups``): after a
    generation round, the groups whose rewards are all equal are dropped and a round of fresh prompts
    (uniform, without replacement within the round) is generated, until the step has as many mixed
    groups as the batch holds. After ``max_num_gen_batches`` rounds the remaining places are filled
    with dropped groups (advantage 0: no gradient) and the step is counted in ``cap_hits``; verl
    raises there instead, which would end the run.

    Single process only (the extra rounds are drawn here, not by the distributed sampler).

    >>> trainer = DynamicSamplingGRPOTrainer(model=m, reward_funcs=r, args=a,  # doctest: +SKIP
    ...                                      train_dataset=d, max_num_gen_batches=8)
    """

    def __init__(self, *args: Any, max_num_gen_batches: int = 8, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._record_init()
        if self.accelerator.num_processes != 1:
            raise ValueError("DynamicSamplingGRPOTrainer runs in one process")
        self.max_num_gen_batches = max_num_gen_batches
        self.cap_hits = 0
        self._ds_rng = np.random.default_rng([int(self.args.seed), 5])

    #: Fields merged across rounds: their padding value ("pad": the tokenizer's) and side.
    _MERGED: Dict[str, Tuple[Union[str, float], str]] = {"prompt_ids": ("pad", "left"), "prompt_mask": (0, "left"), "completion_ids": ("pad", "right"),
               "completion_mask": (0, "right"), "old_per_token_logps": (0.0, "right"),
               "sampling_per_token_logps": (0.0, "right"), "ref_per_token_logps": (0.0, "right")}

    def _generate_and_score_completions(self, inputs: List[Dict[str, Any]]) -> Dict[str, Any]:
        if not self.model.training:
            return super()._generate_and_score_completions(inputs)
        g = self.num_generations
        groups_wanted = len(inputs) // g
        parts: List[Dict[str, Any]] = []  # per round: the output restricted to its kept groups
        dropped: List[Dict[str, Any]] = []
        have = 0
        for round_no in range(self.max_num_gen_batches):
            if round_no:
                ids = self._ds_rng.choice(len(self.train_dataset), size=groups_wanted, replace=False)
                inputs = [self.train_dataset[int(i)] for i in ids for _ in range(g)]
            out = super()._generate_and_score_completions(inputs)
            record = self.rounds[-1]
            grouped = record.rewards.reshape(-1, g)
            mixed = np.flatnonzero(grouped.max(axis=1) > grouped.min(axis=1))[:groups_wanted - have]
            record.kept_groups = mixed
            parts.append(self._rows(out, mixed))
            dropped.append(self._rows(out, np.setdiff1d(np.arange(grouped.shape[0]), mixed)))
            have += mixed.size
            if have == groups_wanted:
                break
        else:
            self.cap_hits += 1
            for extra in dropped:
                n = min(groups_wanted - have, extra["advantages"].shape[0] // g)
                if n:
                    parts.append(self._rows(extra, np.arange(n)))
                    have += n
        return self._merge(parts)

    def _rows(self, out: Dict[str, Any], groups: np.ndarray) -> Dict[str, Any]:
        g = self.num_generations
        rows = torch.as_tensor((groups[:, None] * g + np.arange(g)[None, :]).reshape(-1), dtype=torch.long)
        picked: Dict[str, Any] = {}
        for key, value in out.items():
            if key == "num_items_in_batch":
                continue
            if key not in self._MERGED and key != "advantages":
                raise NotImplementedError(f"dynamic sampling cannot merge the field {key!r} (text-only, no vLLM)")
            picked[key] = None if value is None else value[rows.to(value.device)]
        return picked

    def _merge(self, parts: List[Dict[str, Any]]) -> Dict[str, Any]:
        pad = int(self.processing_class.pad_token_id)
        merged: Dict[str, Any] = {}
        for key in parts[0]:
            values = [p[key] for p in parts if p[key] is not None and p[key].shape[0]]
            if not values:
                merged[key] = None
            elif key == "advantages":
                merged[key] = torch.cat(values, dim=0)
            else:
                fill, side = self._MERGED[key]
                merged[key] = _pad_cat(values, pad if isinstance(fill, str) else fill, side)
        merged = {k: v for k, v in merged.items() if v is not None}
        merged["num_items_in_batch"] = merged["completion_mask"].sum()
        return merged


def make_trainer(strategy: Strategy, *, mopps_client: Any = None, **kwargs: Any) -> Any:
    """The trainer of ``strategy`` (``kwargs`` go to ``GRPOTrainer``); a ``"mopps"`` strategy needs
    ``mopps_client``, a client of a moppsd; the plug-in creates the pool (named ``strategy.name``)."""
    if strategy.kind == "uniform":
        return UniformGRPOTrainer(**kwargs)
    if strategy.kind == "dynamic-sampling":
        return DynamicSamplingGRPOTrainer(max_num_gen_batches=strategy.max_num_gen_batches, **kwargs)
    if strategy.kind == "mopps":
        if mopps_client is None:
            raise ValueError(f"strategy {strategy.name} needs a moppsd client")
        return RecordingMoPPSGRPOTrainer(mopps_client=mopps_client, mopps_pool=strategy.name,
                                         mopps_strategy=strategy.mopps_strategy,
                                         mopps_strategy_config=strategy.strategy_config or None,
                                         candidates_ratio=strategy.candidates_ratio, **kwargs)
    raise ValueError(f"unknown strategy kind {strategy.kind!r} (uniform, dynamic-sampling, mopps)")
