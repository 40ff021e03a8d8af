"""What the plug-ins (verl, TRL, compat) share: their connection to moppsd, the pool of dataset
indices, the per-epoch candidate draw, keyed Selects, reports, the checkpoint state and the
``mopps/`` metrics of each step."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

import numpy as np
import numpy.typing as npt

from ._codec import group_rewards
from ._types import ArrayLike, U64Array
from .client import Client
from .errors import MoppsError
from .launch import Process, connect

#: Version of the sampler state a checkpoint holds (``state_dict`` / the TRL checkpoint JSON).
STATE_FORMAT = 1


class Sidecar:
    """A plug-in's moppsd: the client it was given (left open: its owner closes it), or one it
    makes and closes — of ``endpoint``, or of a private moppsd started for this process (state in
    ``state_dir``), which :meth:`close` stops. Plug-ins close it when their work ends, also when
    their own set-up fails after the server started.

    >>> with Sidecar(endpoint=None, state_dir="/tmp/s") as sidecar:     # doctest: +SKIP
    ...     sidecar.client.create_pool("math", exist_ok=True)
    """

    def __init__(self, client: Optional[Client] = None, *, endpoint: Optional[str] = None,
                 state_dir: Optional[str] = None) -> None:
        self.owned = client is None
        self.client = client if client is not None else connect(endpoint, state_dir=state_dir)

    @property
    def private(self) -> Optional[Process]:
        """The private moppsd this sidecar started, else None."""
        return self.client.process if self.owned else None

    def close(self) -> None:
        """Closes the client it made (stopping its private moppsd); a given client stays open."""
        if self.owned:
            self.client.close()

    def __enter__(self) -> Sidecar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PromptChooser:
    """Chooses the batches of one training run from a pool whose ids are the dataset indices
    ``0 … n−1``: batch ``b`` of epoch ``e`` draws ``candidates_ratio × B`` candidates with the
    epoch's RNG (seeded by ``(seed, e)``) and asks moppsd under the key ``{run}/e{e}/b{b}``, so every
    data-parallel rank, and a resumed run replaying the epoch, gets the same batch without a
    second draw."""

    def __init__(self, client: Client, pool: str, n: int, batch_size: int, *, candidates_ratio: float,
                 seed: int, run: str = "run") -> None:
        if batch_size <= 0 or batch_size > n:
            raise MoppsError(f"batch size {batch_size} must be in [1, {n}] (the dataset has {n} rows)")
        self.client, self.pool, self.n, self.batch_size = client, pool, n, batch_size
        self.candidates = min(n, max(batch_size, int(candidates_ratio * batch_size)))
        self.seed, self.run = int(seed), run
        self.batches_per_epoch = n // batch_size
        self.epoch = -1  # the epoch being iterated
        self.rng = np.random.default_rng([self.seed, 0])
        self._means: Dict[int, float] = {}  # posterior mean of each id when last selected
        self._seen = np.zeros(n, dtype=bool)  # ids with reported rewards
        self.select_ms: List[float] = []  # round-trip time of each Select since the last report

    def start_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.rng = np.random.default_rng([self.seed, epoch])

    def draw_candidates(self) -> U64Array:
        """The next batch's candidates from the epoch's RNG."""
        return self.rng.choice(self.n, size=self.candidates, replace=False).astype(np.uint64)

    def choose(self, batch: int) -> U64Array:
        """The dataset indices of batch ``batch`` of the current epoch (uint64)."""
        candidates = self.draw_candidates()
        t0 = time.perf_counter()
        sel = self.client.select(self.pool, self.batch_size, candidates=candidates, return_means=True,
                                 request_id=f"{self.run}/e{self.epoch}/b{batch}")
        self.select_ms.append((time.perf_counter() - t0) * 1e3)
        assert sel.means is not None
        self._means.update(zip(sel.ids.tolist(), sel.means.tolist()))
        return sel.ids

    def metrics(self, prompt_ids: ArrayLike, rewards: ArrayLike, threshold: float) -> Dict[str, float]:
        """The ``mopps/`` metrics of one step's completions (all of the step's, not one rank's)."""
        ids, successes, trials = group_rewards(prompt_ids, rewards, threshold=threshold)
        out: Dict[str, float] = {}
        if ids.size:
            rate = successes / trials
            known = [self._means[i] for i in ids.tolist() if i in self._means]
            if known:
                out["mopps/predicted_success"] = float(np.mean(known))
            out["mopps/realised_success"] = float(rate.mean())
            out["mopps/effective_ratio"] = float(np.mean((successes > 0) & (successes < trials)))
            out["mopps/all_solved"] = float(np.mean(successes == trials))
            out["mopps/all_failed"] = float(np.mean(successes == 0))
            self._seen[ids[ids < self.n].astype(np.int64)] = True
        out["mopps/prompts_with_data"] = float(self._seen.sum())
        if self.select_ms:
            out["mopps/select_ms"] = float(np.mean(self.select_ms))
            self.select_ms = []
        return out

    def state(self, tag: str, position: Dict[str, Any], *, snapshot: bool = True) -> Dict[str, Any]:
        """A checkpoint's sampler state: tags the pool as ``tag`` on the server first (unless the
        caller takes the snapshot later)."""
        if snapshot:
            self.client.snapshot(self.pool, tag)
        return {"format": STATE_FORMAT, "pool": self.pool, "tag": tag, "run": self.run, "seed": self.seed,
                "rng": self.rng.bit_generator.state, **position}

    def restore(self, state: Dict[str, Any]) -> None:
        """Puts the pool back to the checkpoint's tag, and the RNG to its state when it has one;
        refuses a state of another pool or format."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
            found = state.get("format") if isinstance(state, dict) else type(state).__name__
            raise MoppsError(f"MoPPS sampler state: format {found!r} is not the supported version {STATE_FORMAT}")
        if state.get("pool") != self.pool:
            raise MoppsError(
                f'MoPPS sampler state belongs to pool "{state.get("pool")}", this sampler uses pool "{self.pool}"; '
                "resume with the same pool setting")
        try:
            self.client.restore(self.pool, state["tag"])
        except MoppsError as e:
            raise MoppsError(
                f'cannot restore tag "{state["tag"]}" of pool "{self.pool}" on {self.client.endpoint} ({e}); a '
                "private moppsd keeps tags in its state dir: give the same state_dir (or endpoint) when resuming") from e
        self.run, self.seed = state["run"], int(state["seed"])
        if state.get("rng") is not None:
            self.rng = np.random.default_rng()
            self.rng.bit_generator.state = state["rng"]


#: Strategies with settings of their own (``strategy_config``): the rules of docs/strategies.md.
CONFIGURED_STRATEGIES = ("dps", "greso", "pools")
#: Strategies whose per-step rule needs the trainer's step number when several ranks report a step.
PER_STEP_STRATEGIES = ("dps", "greso")


def plain(value: Any) -> Any:
    """A config value as plain Python (OmegaConf's DictConfig / ListConfig become dict / list)."""
    if isinstance(value, (str, bytes)):
        return value
    if hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or (hasattr(value, "__iter__") and hasattr(value, "__len__")):
        return [plain(v) for v in value]
    return value


def pool_settings(strategy: Optional[str] = None, strategy_config: Any = None, **settings: Any) -> Dict[str, Any]:
    """``create_pool`` keyword arguments for a plug-in's ``strategy`` and its ``strategy_config``
    (a dict keyed by the fields of docs/strategies.md, e.g. ``{"decay": 0.7}`` for dps), plus the
    MoPPS settings given (``None`` values left out).

    >>> pool_settings("dps", {"decay": 0.7, "selection": "topk+entropy"})
    {'strategy': 'dps', 'dps': {'decay': 0.7, 'selection': 'topk+entropy'}}
    """
    out = {k: v for k, v in settings.items() if v is not None}
    if strategy is not None:
        out["strategy"] = str(strategy)
    if strategy_config is not None:
        config = plain(strategy_config)
        if not isinstance(config, dict):
            raise MoppsError(f"strategy_config must be a mapping of settings, got {type(strategy_config).__name__}")
        if config:
            if strategy not in CONFIGURED_STRATEGIES:
                raise MoppsError(
                    f"strategy_config is for the strategies {', '.join(CONFIGURED_STRATEGIES)}; strategy is "
                    f"{strategy or 'topk'} (MoPPS pools take decay and target instead)")
            out[str(strategy)] = config
    return out


def setup_pool(client: Client, pool: str, n: int, *, seed: int, **settings: Any) -> None:
    """The plug-ins' pool: ids are the dataset indices 0 … n−1, registered, and strict (an Update of
    any other id is refused instead of silently adding a prompt)."""
    client.create_pool(pool, seed=seed, strict_ids=True, exist_ok=True, **settings)
    client.register(pool, np.arange(n, dtype=np.uint64))


def check_index_column(indices: npt.NDArray[Any], what: str) -> None:
    """Fails unless ``indices`` is ``0 … n−1`` in row order (the plug-ins use it as prompt ids)."""
    expected = np.arange(len(indices))
    bad = np.flatnonzero(np.asarray(indices) != expected)
    if bad.size:
        i = int(bad[0])
        raise MoppsError(
            f"{what} must equal the row number (0 … {len(indices) - 1} in order); row {i} has {indices[i]!r} "
            f"({bad.size} rows differ). Set the index after filtering and concatenating, e.g. "
            "dataset.map(lambda row, i: {..., 'index': i}, with_indices=True); verl: also turn off "
            "data.filter_overlong_prompts or re-index after it, and use one train_files entry or re-index")

