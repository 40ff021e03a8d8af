"""MoPPS prompt selection for Hugging Face TRL's ``GRPOTrainer`` (checked against TRL 1.16).

TRL draws prompts through ``GRPOTrainer._get_train_sampler`` (a ``RepeatSampler``: each prompt
repeated ``num_generations`` times, each generation batch repeated ``num_iterations ×
steps_per_generation`` times) and scores completions in ``GRPOTrainer._calculate_rewards``.
``MoPPSGRPOTrainer`` replaces the first with :class:`MoPPSRepeatSampler` (same layout, prompts chosen
by moppsd) and extends the second to report each completion's reward back::

    from mopps.trl import MoPPSGRPOTrainer
    trainer = MoPPSGRPOTrainer(model=..., reward_funcs=..., args=GRPOConfig(...),
                               train_dataset=dataset,           # needs an "index" column = row number
                               mopps_endpoint="ipc:///tmp/mopps/moppsd.sock",  # else a private moppsd
                               candidates_ratio=8)

A completion counts as a success when its weighted reward > ``success_threshold`` (default 0).
Limits: one training process (with several, each process would ask for its own batch; a rank-0
selection broadcast is future work); TRL's DataLoader may fetch the next generation batch before
the current rewards are reported, so selection can lag one step.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional, Sequence

import numpy as np

from .client import Client
from .launch import start

try:
    from trl import GRPOTrainer as _GRPOTrainer
except Exception:  # TRL not installed: the sampler and report_rewards still work
    _GRPOTrainer = object  # type: ignore[misc,assignment]


class MoPPSRepeatSampler:
    """TRL's RepeatSampler layout with moppsd choosing the prompts of each generation batch."""

    def __init__(
        self,
        data_source,
        client: Client,
        pool: str,
        mini_repeat_count: int,
        batch_size: int = 1,
        repeat_count: int = 1,
        candidates_ratio: float = 8.0,
        seed: int = 0,
    ) -> None:
        self.n = len(data_source)
        self.client, self.pool = client, pool
        self.mini_repeat_count, self.batch_size, self.repeat_count = mini_repeat_count, batch_size, repeat_count
        self.candidates_ratio = candidates_ratio
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return (self.n // self.batch_size) * self.batch_size * self.mini_repeat_count * self.repeat_count

    def __iter__(self) -> Iterator[int]:
        b = self.batch_size
        for _ in range(self.n // b):
            m = min(self.n, max(b, int(self.candidates_ratio * b)))
            candidates = self.rng.choice(self.n, size=m, replace=False).astype(np.uint64)
            chosen = self.client.select(self.pool, b, candidates=candidates).ids.tolist()
            for _ in range(self.repeat_count):
                for index in chosen:
                    for _ in range(self.mini_repeat_count):
                        yield int(index)


def report_rewards(client: Client, pool: str, indices: Sequence[int], rewards, success_threshold: float = 0.0) -> None:
    """Groups completions by prompt index and sends one Update: successes = completions whose reward
    > threshold (NaN rewards are skipped), trials = completions."""
    index = np.asarray(indices, dtype=np.int64)
    reward = np.asarray(rewards, dtype=float)
    keep = ~np.isnan(reward)
    if not keep.any():
        return
    ids, inverse = np.unique(index[keep], return_inverse=True)
    trials = np.bincount(inverse)
    successes = np.bincount(inverse, weights=(reward[keep] > success_threshold).astype(float))
    client.update(pool, ids.astype(np.uint64), successes, trials=trials.astype(np.uint32))


class MoPPSGRPOTrainer(_GRPOTrainer):  # type: ignore[misc]
    """``trl.GRPOTrainer`` whose prompts are chosen by MoPPS (see the module docstring)."""

    def __init__(
        self,
        *args: Any,
        mopps_client: Optional[Client] = None,
        mopps_endpoint: Optional[str] = None,
        mopps_pool: str = "trl",
        candidates_ratio: float = 8.0,
        index_key: str = "index",
        success_threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._mopps_process = None
        if mopps_client is None:
            if mopps_endpoint is None:
                self._mopps_process = start()
                mopps_endpoint = self._mopps_process.listen
            mopps_client = Client(mopps_endpoint)
        self.mopps, self.mopps_pool = mopps_client, mopps_pool
        self.candidates_ratio, self.index_key, self.success_threshold = candidates_ratio, index_key, success_threshold
        self.mopps.create_pool(mopps_pool, seed=int(self.args.seed), exist_ok=True)
        self.mopps.register(mopps_pool, np.arange(len(self.train_dataset), dtype=np.uint64))

    def _get_train_sampler(self, dataset=None):
        dataset = self.train_dataset if dataset is None else dataset
        return MoPPSRepeatSampler(
            dataset, self.mopps, self.mopps_pool, mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            candidates_ratio=self.candidates_ratio, seed=int(self.args.seed))

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        # The result is gathered over processes; this process's completions are its own slice.
        start_row = self.accelerator.process_index * len(prompts)
        local = rewards_per_func[start_row:start_row + len(prompts)]
        weights = self.reward_weights.to(local.device).unsqueeze(0)
        total = (local * weights).nansum(dim=1)
        total[local.isnan().all(dim=1)] = float("nan")
        report_rewards(
            self.mopps, self.mopps_pool, [row[self.index_key] for row in inputs], total.detach().cpu().numpy(),
            self.success_threshold)
        return rewards_per_func
