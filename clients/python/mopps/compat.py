"""The MoPPS reference's sampler interface, backed by moppsd.

An existing MoPPS training script switches with one import line::

    # from recipe.ours.mpts_llm import PosteriorSampler
    from mopps.compat import PosteriorSampler

The class keeps the reference's shape — ``PosteriorSampler(args, total_num_samples, init, init_dir)``,
``sample_batch(batch_dict) -> (batch_dict, scores)``, ``train(batch_dict, success_rate)``,
``save(dir)``, ``load(dir)`` — and runs DESIGN §2's algorithm in the sidecar, without the reference's
defects (its update overwrote alpha and beta with 8 when a prompt had at most one rollout).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Mapping, Optional, Tuple

import numpy as np
import numpy.typing as npt

from . import _plugin
from .client import Client

_MARKER = "mopps_sampler.json"


def _get(obj: Any, path: str, default: Any = None) -> Any:
    """``obj.a.b`` for attribute- or mapping-style configs (OmegaConf, namespaces, dicts)."""
    for part in path.split("."):
        if obj is None:
            return default
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return default if obj is None else obj


class PosteriorSampler:
    """MoPPS prompt selection through a moppsd sidecar, with the reference's methods.

    Settings come from keyword arguments, else from the reference's config object ``args`` where it
    has them (``args.tasksampler.{prior_alpha, prior_beta, decay, sampling_strategy, target, ts_ratio}``,
    ``args.data.train_batch_size``, ``args.actor_rollout_ref.rollout.n``; names the reference did not
    have are simply not found), else DESIGN defaults. Without ``client``/``endpoint`` a private moppsd
    is started (state in ``state_dir`` or a temporary folder) and stopped with :meth:`close`.

    ``batch_dict[id_key]`` must hold each prompt's dataset index (the reference's datasets carry
    ``index``).
    """

    def __init__(
        self,
        args: Any = None,
        total_num_samples: Optional[int] = None,
        init: bool = False,
        init_dir: Optional[str] = None,
        *,
        client: Optional[Client] = None,
        endpoint: Optional[str] = None,
        state_dir: Optional[str] = None,
        pool: str = "mopps",
        prior_alpha: Optional[float] = None,
        prior_beta: Optional[float] = None,
        decay: Optional[float] = None,
        sampling_strategy: Optional[str] = None,
        target: Optional[float] = None,
        batch_size: Optional[int] = None,
        ts_ratio: Optional[float] = None,
        rollouts: Optional[int] = None,
        id_key: str = "index",
        seed: Optional[int] = None,
        eval_multiplier: float = 3.0,
    ) -> None:
        ts = _get(args, "tasksampler")
        self.pool = pool
        self.id_key = id_key
        self.total_num_samples = total_num_samples
        self.batch_size = batch_size or _get(args, "data.train_batch_size")
        self.ts_ratio = ts_ratio or _get(ts, "ts_ratio")
        self.rollouts = rollouts or _get(args, "actor_rollout_ref.rollout.n")
        self._sidecar = _plugin.Sidecar(client, endpoint=endpoint, state_dir=state_dir)
        self.client = self._sidecar.client
        try:
            self.info = self.client.create_pool(
                pool,
                prior_alpha=prior_alpha if prior_alpha is not None else _get(ts, "prior_alpha"),
                prior_beta=prior_beta if prior_beta is not None else _get(ts, "prior_beta"),
                decay=decay if decay is not None else _get(ts, "decay"),
                strategy=sampling_strategy or _get(ts, "sampling_strategy"),
                target=target if target is not None else _get(ts, "target"),
                seed=seed,
                exist_ok=True,
            )
            if init and init_dir:
                # Offline evaluation {id: [0/1, ...]}: alpha = 3*successes + alpha0, beta = 3*failures + beta0.
                path = init_dir if init_dir.endswith(".json") else os.path.join(init_dir, "prior.json")
                self.client.import_state(pool, path, format="eval", multiplier=eval_multiplier)
        except BaseException:
            self._sidecar.close()  # a private moppsd started above must not outlive the failed set-up
            raise

    def _ids(self, batch_dict: Mapping[str, Any]) -> npt.NDArray[np.uint64]:
        ids = batch_dict[self.id_key]
        ids = ids.cpu().numpy() if hasattr(ids, "cpu") else np.asarray(ids)
        return ids.astype(np.uint64).reshape(-1)

    def sample_batch(self, batch_dict: Mapping[str, Any]) -> Tuple[Any, Any]:
        """Chooses the batch among the candidate prompts in ``batch_dict`` (ts_ratio × B of them) and
        returns (the chosen rows of ``batch_dict``, their sampled success rates)."""
        ids = self._ids(batch_dict)
        b = self.batch_size or (int(len(ids) / self.ts_ratio) if self.ts_ratio else None)
        if not b:
            raise ValueError("set batch_size (or ts_ratio, or args.data.train_batch_size)")
        sel = self.client.select(self.pool, min(b, len(ids)), candidates=ids)
        where = {int(i): k for k, i in enumerate(ids.tolist())}
        rows = np.array([where[int(i)] for i in sel.ids.tolist()])
        return _take(batch_dict, rows), _like(batch_dict, sel.samples)

    def train(self, batch_dict: Mapping[str, Any], success_rate: Any) -> Tuple[float, float, float]:
        """Updates the posteriors of the prompts in ``batch_dict`` with their success rates (mean
        reward over ``rollouts`` rollouts each). Returns the reference's three losses (MoPPS has none:
        zeros)."""
        ids = self._ids(batch_dict)
        rate = success_rate.detach().cpu().numpy() if hasattr(success_rate, "detach") else np.asarray(success_rate)
        rate = rate.astype(float).reshape(-1)
        if len(rate) != len(ids):
            raise ValueError(f"success_rate has {len(rate)} values for {len(ids)} prompts")
        k = int(self.rollouts or 1)
        self.client.update(self.pool, ids, np.clip(rate, 0, 1) * k, rollouts=k)
        return 0.0, 0.0, 0.0

    def save(self, path: str) -> None:
        """Tags the sidecar's state for this checkpoint directory and notes the tag there."""
        os.makedirs(path, exist_ok=True)
        tag = "ckpt-" + (re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.abspath(path).strip("/")) or "root")[-100:]
        self.client.snapshot(self.pool, tag)
        with open(os.path.join(path, _MARKER), "w", encoding="utf-8") as f:
            json.dump({"pool": self.pool, "tag": tag}, f)

    def load(self, path: str) -> bool:
        """Restores the state saved for this checkpoint directory; False (and nothing changes) when
        the directory has none, as on a first start."""
        marker = os.path.join(path, _MARKER)
        if not os.path.exists(marker):
            return False
        with open(marker, encoding="utf-8") as f:
            saved = json.load(f)
        self.client.restore(self.pool, saved["tag"])
        return True

    def close(self) -> None:
        """Closes the client this sampler made (and stops its private moppsd, if it started one)."""
        self._sidecar.close()


def _take(batch: Any, rows: npt.NDArray[np.intp]) -> Any:
    """Rows of a batch: dicts of arrays/tensors/lists (recursively), arrays, tensors or lists."""
    if isinstance(batch, dict):
        return {k: _take(v, rows) for k, v in batch.items()}
    if hasattr(batch, "index_select") and hasattr(batch, "device"):  # torch tensor
        import torch

        return batch.index_select(0, torch.as_tensor(rows, device=batch.device))
    if isinstance(batch, np.ndarray):
        return batch[rows]
    if isinstance(batch, (list, tuple)):
        return type(batch)(batch[int(i)] for i in rows)
    return batch  # scalars and metadata pass through


def _like(batch_dict: Mapping[str, Any], values: npt.NDArray[np.float32]) -> Any:
    """A torch tensor when the batch holds tensors, else a numpy array."""
    if any(hasattr(v, "index_select") for v in (batch_dict.values() if isinstance(batch_dict, dict) else [])):
        import torch

        return torch.as_tensor(np.array(values, dtype=np.float32))
    return np.array(values, dtype=np.float32)
