"""MoPPS prompt selection as a verl curriculum sampler (verl 0.5 – 0.7).

verl builds the sampler from ``data.sampler.class_path`` / ``class_name`` and calls its ``update``
after every training step with that step's batch. Configuration (Hydra overrides)::

    data.sampler.class_path=pkg://mopps.verl
    data.sampler.class_name=MoPPSSampler
    data.dataloader_num_workers=0                  # required by verl for curriculum samplers
    +data.sampler.mopps.endpoint=ipc:///tmp/mopps/moppsd.sock   # optional: else a private moppsd
    +data.sampler.mopps.candidates_ratio=8         # candidates per step = ratio x batch size
    +data.sampler.mopps.decay=1.0                  # also: pool, seed, target, strategy,
                                                   # index_key, success_threshold, state_dir

Every step the sampler draws ``candidates_ratio × B`` dataset rows at random, asks moppsd for the
``B`` best (B = ``data.gen_batch_size`` or ``data.train_batch_size``) and yields their indices, in
order, to verl's DataLoader. ``update(batch)`` reads each response's prompt index from
``batch.non_tensor_batch[index_key]`` (default ``"index"``: verl's datasets put ``extra_info.index``
there, which its preprocessing scripts set to the row number — make sure yours do) and its reward
(``acc`` from the reward function's extra info when present, else the summed
``token_level_scores``); a response counts as a success when the reward > ``success_threshold``
(default 0).

verl 0.8 and later removed this hook (nothing calls ``update``). There, pass the sampler to the
trainer yourself and let a small subclass feed it — :func:`with_sampler_updates` makes one::

    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from mopps.verl import MoPPSSampler, with_sampler_updates

    sampler = MoPPSSampler(train_dataset, config.data)
    trainer = with_sampler_updates(RayPPOTrainer)(config=config, ..., train_sampler=sampler)

It overrides ``RayPPOTrainer._update_actor(batch)`` (called once per step with the step's batch in
verl 0.7.1 and 0.9.1 alike) to call ``sampler.update(batch)`` after the actor update, and does nothing
extra on verl versions whose trainer already calls ``update``. ``make test-verl`` checks it against the
real verl 0.9.1.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, Optional

import numpy as np

from .client import Client
from .launch import start

try:  # verl 0.5 – 0.7: RayPPOTrainer.fit calls the sampler's update itself
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler as _Base

    _VERL_CALLS_UPDATE = True
except Exception:  # verl missing or 0.8+: see with_sampler_updates
    _Base = object  # type: ignore[misc,assignment]
    _VERL_CALLS_UPDATE = False


def _opt(cfg: Any, key: str, default=None):
    if cfg is None:
        return default
    value = cfg.get(key, None) if hasattr(cfg, "get") else getattr(cfg, key, None)
    return default if value is None else value


class MoPPSSampler(_Base):  # type: ignore[misc]
    """verl curriculum sampler backed by moppsd (see the module docstring for configuration)."""

    def __init__(self, data_source, data_config) -> None:
        self.data_source = data_source
        self.n = len(data_source)
        sampler_cfg = _opt(data_config, "sampler")
        cfg = _opt(sampler_cfg, "mopps")
        self.batch_size = int(_opt(data_config, "gen_batch_size") or _opt(data_config, "train_batch_size") or 0)
        if self.batch_size <= 0:
            raise ValueError("MoPPSSampler needs data.train_batch_size (or data.gen_batch_size)")
        self.ratio = float(_opt(cfg, "candidates_ratio", 8))
        self.pool = str(_opt(cfg, "pool", "verl"))
        self.index_key = str(_opt(cfg, "index_key", "index"))
        self.success_threshold = float(_opt(cfg, "success_threshold", 0.0))
        seed = _opt(cfg, "seed", _opt(data_config, "seed", 0))
        self.rng = np.random.default_rng(int(seed))
        endpoint = _opt(cfg, "endpoint", os.environ.get("MOPPS_ENDPOINT"))
        self._process = None
        if endpoint is None:
            self._process = start(state_dir=_opt(cfg, "state_dir"))
            endpoint = self._process.listen
        self.client = Client(str(endpoint))
        self.client.create_pool(
            self.pool, decay=_opt(cfg, "decay"), target=_opt(cfg, "target"), strategy=_opt(cfg, "strategy"),
            seed=int(seed), exist_ok=True)
        self.client.register(self.pool, np.arange(self.n, dtype=np.uint64))

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        # The DataLoader asks for the next batch only after the previous step (and its update) ran,
        # since verl requires dataloader_num_workers = 0 for curriculum samplers.
        b = min(self.batch_size, self.n)
        for _ in range(self.n // b):
            m = min(self.n, max(b, int(self.ratio * b)))
            candidates = self.rng.choice(self.n, size=m, replace=False).astype(np.uint64)
            for i in self.client.select(self.pool, b, candidates=candidates).ids.tolist():
                yield int(i)

    def update(self, batch) -> None:
        """Feeds one step's outcomes back (called by verl after each step)."""
        non_tensor = batch.non_tensor_batch
        index = np.asarray(non_tensor[self.index_key]).astype(np.int64)
        if "acc" in non_tensor:
            reward = np.asarray(non_tensor["acc"], dtype=float)
        else:
            scores = batch.batch["token_level_scores"]
            reward = scores.sum(-1).detach().cpu().numpy() if hasattr(scores, "detach") else np.asarray(scores).sum(-1)
        success = (reward > self.success_threshold).astype(float)
        ids, inverse = np.unique(index, return_inverse=True)
        trials = np.bincount(inverse).astype(float)
        successes = np.bincount(inverse, weights=success)
        self.client.update(self.pool, ids.astype(np.uint64), successes, trials=trials.astype(np.uint32))

    def after_step(self, batch) -> None:  # noqa: D401
        """For verl 0.8+, whose trainer no longer calls ``update``: call this once per step with the
        step's batch, after the actor update (e.g. in a ``RayPPOTrainer`` subclass's step), or pass
        the same batch to ``update`` yourself."""
        self.update(batch)

    def close(self) -> None:
        self.client.close()
        if self._process is not None:
            self._process.stop()
            self._process = None


def with_sampler_updates(trainer_cls, calls_update: "bool | None" = None):
    """A subclass of verl's ``RayPPOTrainer`` that feeds each step's batch to its MoPPSSampler,
    for verl 0.8+ whose trainer no longer does. ``calls_update`` overrides the detection of whether
    the installed verl calls ``update`` itself."""
    already = _VERL_CALLS_UPDATE if calls_update is None else calls_update

    class MoPPSTrainer(trainer_cls):  # type: ignore[misc,valid-type]
        def _update_actor(self, batch):
            output = super()._update_actor(batch)
            sampler = getattr(getattr(self, "train_dataloader", None), "sampler", None)
            if not already and isinstance(sampler, MoPPSSampler):
                sampler.update(batch)
            return output

    MoPPSTrainer.__name__ = MoPPSTrainer.__qualname__ = f"MoPPS{trainer_cls.__name__}"
    return MoPPSTrainer
