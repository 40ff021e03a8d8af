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
    +data.sampler.mopps.strategy=dps               # topk (default), threshold, uniform, dps, greso, pools
    +data.sampler.mopps.strategy_config.decay=0.7  # dps / greso / pools settings (docs/strategies.md)
    +data.sampler.mopps.state_dir=/ckpt/mopps-state   # private moppsd's state: needed to resume
    +data.sampler.mopps.check_index=false          # skip the start-up index check (it reads
                                                   # every row of datasets without a dataframe)

Every step the sampler draws ``candidates_ratio × B`` dataset rows at random, asks moppsd for the
``B`` best (by the pool's strategy: any moppsd serves, with ``strategy_config`` for dps, greso and
pools; verl reports each step's whole batch in one Update, so every update is one training step
for their per-step rules; B = ``data.gen_batch_size`` or ``data.train_batch_size``) and yields their indices, in
order, to verl's DataLoader. The pool's ids are the dataset rows, registered and strict; at start
the sampler checks that the dataset's index column (``extra_info.index``) is ``0 … n−1`` in row
order and fails otherwise. ``update(batch)`` reads each response's prompt index from
``batch.non_tensor_batch[index_key]`` (default ``"index"``: verl's datasets put ``extra_info.index``
there, which its preprocessing scripts set to the row number — make sure yours do) and its reward
(``acc`` from the reward function's extra info when present, else the summed
``token_level_scores``); a response counts as a success when the reward > ``success_threshold``
(default 0).

Checkpoints: verl's ``StatefulDataLoader`` stores ``state_dict()`` in each checkpoint (``data.pt``)
and calls ``load_state_dict()`` on resume. The state names a tag of the pool on the server
(``{pool}-step-{n}``, taken once the step's rewards are in), the sampler's position and RNG, so a
resumed run selects exactly the batches the uninterrupted run would have. The tag lives in the
server's state dir: with a private moppsd, set ``state_dir`` to a lasting folder.

verl 0.8 and later removed this hook (nothing calls ``update``). There, pass the sampler to the
trainer yourself and let a small subclass feed it — :func:`with_sampler_updates` makes one::

    from verl.trainer.ppo.ray_trainer import RayPPOTrainer
    from mopps.verl import MoPPSSampler, with_sampler_updates

    sampler = MoPPSSampler(train_dataset, config.data)
    trainer = with_sampler_updates(RayPPOTrainer)(config=config, ..., train_sampler=sampler)

It overrides ``RayPPOTrainer._update_actor(batch)`` (called once per step with the step's batch in
verl 0.7.1 and 0.9.1 alike) to call ``sampler.update(batch)`` after the actor update and to add the
step's ``mopps/`` metrics to the actor's metrics, which verl logs with the step. Use it on verl
0.5–0.7 too to get the metrics: the later ``update(batch)`` of verl's own loop is recognised as the
same step and not counted twice. ``make test-verl`` checks it against the real verl 0.7.1 and 0.9.1.
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Dict, Iterator, Optional, Tuple, Type, TypeVar

import numpy as np
import numpy.typing as npt

from . import _plugin
from .errors import MoppsError

_T = TypeVar("_T")

try:  # verl 0.5 – 0.7: RayPPOTrainer.fit calls the sampler's update itself
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler as _Base

    _VERL_CALLS_UPDATE = True
except Exception:  # verl missing or 0.8+: see with_sampler_updates
    _Base = object  # type: ignore[misc,assignment,unused-ignore]
    _VERL_CALLS_UPDATE = False


def _opt(cfg: Any, key: str, default: Any = None) -> Any:
    """``cfg.key`` of a mapping- or attribute-style config (OmegaConf, dicts), else ``default``."""
    if cfg is None:
        return default
    value = cfg.get(key, None) if hasattr(cfg, "get") else getattr(cfg, key, None)
    return default if value is None else value


def _dataset_indices(data_source: Any, index_key: str) -> Optional[npt.NDArray[Any]]:
    """The index verl will report for each row: ``extra_info.index`` of an ``RLHFDataset`` (0 when
    missing, as verl fills it), else ``row[index_key]`` of datasets whose rows are mappings."""
    frame = getattr(data_source, "dataframe", None)
    if frame is not None and "extra_info" in getattr(frame, "column_names", ()):
        return np.array([(info or {}).get("index", 0) for info in frame["extra_info"]])
    try:
        return np.array([data_source[i][index_key] for i in range(len(data_source))])
    except (KeyError, TypeError, IndexError):
        return None


class MoPPSSampler(_Base):  # type: ignore[misc]
    """verl curriculum sampler backed by moppsd (see the module docstring for configuration).

    >>> sampler = MoPPSSampler(train_dataset, config.data)   # doctest: +SKIP
    """

    def __init__(self, data_source: Any, data_config: Any) -> None:
        self.data_source = data_source
        self.n = len(data_source)
        sampler_cfg = _opt(data_config, "sampler")
        cfg = _opt(sampler_cfg, "mopps")
        batch_size = int(_opt(data_config, "gen_batch_size") or _opt(data_config, "train_batch_size") or 0)
        if batch_size <= 0:
            raise MoppsError("MoPPSSampler needs data.train_batch_size (or data.gen_batch_size)")
        self.pool = str(_opt(cfg, "pool", "verl"))
        self.index_key = str(_opt(cfg, "index_key", "index"))
        self.success_threshold = float(_opt(cfg, "success_threshold", 0.0))
        if _opt(cfg, "check_index", True):
            indices = _dataset_indices(data_source, self.index_key)
            if indices is not None:
                _plugin.check_index_column(indices, f"the dataset's {self.index_key} (extra_info.index)")
        seed = int(_opt(cfg, "seed", _opt(data_config, "seed", 0)))
        self._sidecar = _plugin.Sidecar(endpoint=_opt(cfg, "endpoint", os.environ.get("MOPPS_ENDPOINT")),
                                        state_dir=_opt(cfg, "state_dir"))
        self.client = self._sidecar.client
        try:
            settings = _plugin.pool_settings(_opt(cfg, "strategy"), _opt(cfg, "strategy_config"),
                                             decay=_opt(cfg, "decay"), target=_opt(cfg, "target"))
            _plugin.setup_pool(self.client, self.pool, self.n, seed=seed, **settings)
        except BaseException:
            self._sidecar.close()
            raise
        self.chooser = _plugin.PromptChooser(
            self.client, self.pool, self.n, min(batch_size, self.n), candidates_ratio=float(_opt(cfg, "candidates_ratio", 8)),
            seed=seed, run=uuid.uuid4().hex[:12])
        self.batch_size = self.chooser.batch_size
        self._next = (0, 0)  # (epoch, batch) the next iteration starts at
        self._chosen = 0  # batches chosen so far (this run)
        self._steps = 0  # steps reported so far (this run)
        self._deferred_tag: Optional[str] = None
        self._last_report: Optional[Tuple[bytes, bytes]] = None
        #: The ``mopps/`` metrics of the last reported step.
        self.last_metrics: Dict[str, float] = {}

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        # The DataLoader asks for the next batch only after the previous step (and its update) ran,
        # since verl requires dataloader_num_workers = 0 for curriculum samplers. The body runs at
        # the first next(): the iterators torchdata makes and drops while restoring count for nothing.
        epoch, first = self._next
        if first == 0:
            self.chooser.start_epoch(epoch)
        else:  # resumed inside an epoch: the RNG was restored with the position
            self.chooser.epoch = epoch
        for b in range(first, self.chooser.batches_per_epoch):
            ids = self.chooser.choose(b)
            self._chosen += 1
            self._next = (epoch, b + 1)
            for i in ids.tolist():
                yield int(i)
        self._next = (epoch + 1, 0)

    # -- checkpoints (torchdata's Stateful protocol, used by verl's StatefulDataLoader) ---------

    def state_dict(self) -> Dict[str, Any]:
        """Tags the pool on the server as ``{pool}-step-{steps}`` and returns that tag, the pool, the
        sampler's position and RNG state, and the format version. When the current batch's rewards
        are not in yet (verl 0.5–0.7 saves before calling ``update``), the tag is written by that
        ``update``, so it holds the step's rewards like the rest of the checkpoint."""
        pending = self._chosen > self._steps
        tag = f"{self.pool}-step-{self._steps + int(pending)}"
        position = {"epoch": self._next[0], "batch": self._next[1], "steps": self._steps + int(pending)}
        self._deferred_tag = tag if pending else None
        return self.chooser.state(tag, position, snapshot=not pending)

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Restores the pool to the checkpoint's tag and the sampler to its position and RNG; a
        state of another pool or an unknown format version raises :class:`mopps.MoppsError`."""
        self.chooser.restore(state)
        self._next = (int(state["epoch"]), int(state["batch"]))
        self._steps = self._chosen = int(state["steps"])
        self._deferred_tag = None

    # -- feedback ----------------------------------------------------------------------------

    def update(self, batch: Any) -> None:
        """Feeds one step's outcomes back (called by verl after each step); a second call with the
        same step's batch (verl's loop after :func:`with_sampler_updates`) changes nothing."""
        non_tensor = batch.non_tensor_batch
        index = np.asarray(non_tensor[self.index_key]).astype(np.int64)
        if "acc" in non_tensor:
            reward = np.asarray(non_tensor["acc"], dtype=float)
        else:
            scores = batch.batch["token_level_scores"]
            reward = scores.sum(-1).detach().cpu().numpy() if hasattr(scores, "detach") else np.asarray(scores).sum(-1)
        key = (index.tobytes(), reward.tobytes())
        if key == self._last_report:
            return
        self.last_metrics = self.chooser.metrics(index, reward, self.success_threshold)
        self.client.report(self.pool, index, reward, threshold=self.success_threshold,
                           request_id=f"{self.chooser.run}/step-{self._steps}")
        self._last_report = key
        self._steps += 1
        if self._deferred_tag is not None:
            self.client.snapshot(self.pool, self._deferred_tag)
            self._deferred_tag = None

    def after_step(self, batch: Any) -> None:  # noqa: D401
        """For verl 0.8+, whose trainer no longer calls ``update``: call this once per step with the
        step's batch, after the actor update (e.g. in a ``RayPPOTrainer`` subclass's step), or pass
        the same batch to ``update`` yourself."""
        self.update(batch)

    def close(self) -> None:
        """Closes the connection (and stops the private moppsd, if this sampler started one)."""
        self._sidecar.close()


def with_sampler_updates(trainer_cls: Type[_T]) -> Type[_T]:
    """A subclass of verl's ``RayPPOTrainer`` that feeds each step's batch to its MoPPSSampler right
    after the actor update (verl 0.8+ no longer does; 0.5–0.7 do it later in the step, which the
    sampler then ignores as a repeat) and adds the step's ``mopps/`` metrics to the actor's
    metrics, which verl logs with the step.

    >>> trainer = with_sampler_updates(RayPPOTrainer)(config=config, ..., train_sampler=sampler)  # doctest: +SKIP
    """

    class MoPPSTrainer(trainer_cls):  # type: ignore[misc,valid-type]
        def _update_actor(self, batch: Any) -> Any:
            output = super()._update_actor(batch)
            sampler = getattr(getattr(self, "train_dataloader", None), "sampler", None)
            if isinstance(sampler, MoPPSSampler):
                sampler.update(batch)
                meta = getattr(output, "meta_info", None)
                if isinstance(meta, dict):
                    meta.setdefault("metrics", {}).update(sampler.last_metrics)
            return output

    MoPPSTrainer.__name__ = MoPPSTrainer.__qualname__ = f"MoPPS{trainer_cls.__name__}"
    return MoPPSTrainer
