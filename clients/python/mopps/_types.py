"""The results the client returns: plain dataclasses, numpy arrays for per-prompt values.

Arrays in results are read-only views of the reply's bytes (``np.frombuffer``, no copy): read them,
slice them, or pass them on; take ``arr.copy()`` to change one. The dataclasses that hold arrays
compare by identity (``eq=False``): ``==`` between two of them would compare arrays elementwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import numpy.typing as npt

from .errors import StatusCode

#: What the client takes for ids and per-id values: a 1-D numpy array or a sequence of numbers.
ArrayLike = Union[npt.NDArray[Any], Sequence[int], Sequence[float], Iterable[int]]

U64Array = npt.NDArray[np.uint64]
F64Array = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]
U32Array = npt.NDArray[np.uint32]
BoolArray = npt.NDArray[np.bool_]


@dataclasses.dataclass(frozen=True)
class PoolInfo:
    """A pool and the configuration in force (every field resolved, including a generated seed).

    >>> client.create_pool("math", seed=1).prompt_count                  # doctest: +SKIP
    0
    """

    name: str
    prior_alpha: float
    prior_beta: float
    decay: float
    target: float
    strategy: str
    band: Tuple[float, float]
    seed: int
    prompt_count: int
    select_count: int
    update_count: int
    strict_ids: bool = False
    #: The strategy's own settings in force (proto field names), only for a pool of that strategy.
    dps: Optional[Mapping[str, Any]] = None
    greso: Optional[Mapping[str, Any]] = None
    pools: Optional[Mapping[str, Any]] = None
    #: Training steps the pool has counted (Updates, or distinct ``step`` values).
    steps: int = 0
    #: GRESO's current exploration probabilities (greso pools only, else None).
    greso_p_easy: Optional[float] = None
    greso_p_hard: Optional[float] = None
    #: Store bytes per prompt for this pool's strategy.
    bytes_per_prompt: float = 0.0


@dataclasses.dataclass(frozen=True, eq=False)
class Selection:
    """The chosen batch: ``ids`` (uint64) and their sampled success rates ``samples`` (float32);
    ``means`` (float64) with ``return_means``, every candidate's id and sample with
    ``return_all_samples``. The arrays are read-only views of the reply.

    >>> batch = client.select("math", 256, candidates=np.arange(4096))    # doctest: +SKIP
    >>> batch.ids[:3], batch.samples[:3]                                  # doctest: +SKIP
    """

    ids: U64Array
    samples: F32Array
    select_index: int
    means: Optional[F64Array] = None
    candidate_ids: Optional[U64Array] = None
    candidate_samples: Optional[F32Array] = None


@dataclasses.dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot on disk: a pool's tag, or a full-state snapshot (``pool == ""``).

    >>> client.snapshot("math", "step-100").lsn                           # doctest: +SKIP
    """

    pool: str
    tag: str
    lsn: int
    created_unix: float
    prompt_count: int
    bytes: int


@dataclasses.dataclass(frozen=True)
class UpdateResult:
    """``updated`` prompts; ``duplicate`` when the request id had been applied before (nothing
    changed this time)."""

    updated: int
    duplicate: bool


@dataclasses.dataclass(frozen=True, eq=False)
class Posteriors:
    """Beta(alpha, beta) per id; ``known`` is False where the id has only the prior. The arrays are
    read-only views of the reply (``known`` excepted).

    >>> client.get("math", [1, 2, 3]).means                               # doctest: +SKIP
    array([0.5, 0.75, 0.5])
    """

    ids: U64Array
    alpha: F64Array
    beta: F64Array
    known: BoolArray
    #: dps pools: (n, 3) predicted state distribution (unsolved, partly solved, solved) per id.
    dps_predicted: Optional[F64Array] = None
    #: greso pools: the current easy and hard run lengths per id.
    greso_easy_run: Optional[U32Array] = None
    greso_hard_run: Optional[U32Array] = None
    #: pools pools: the latest group mean per id (NaN when unseen).
    last_mean: Optional[F64Array] = None

    @property
    def means(self) -> F64Array:
        """The posterior means alpha / (alpha + beta) (a new array)."""
        return self.alpha / (self.alpha + self.beta)


@dataclasses.dataclass(frozen=True)
class MethodStats:
    """The server's counters of one method: requests, errors (by code), handling-time
    percentiles in µs, and the total handling time ``sum_us`` of the ``timed`` (decoded) requests."""

    count: int
    errors: int
    errors_by_code: Mapping[StatusCode, int]
    p50_us: float
    p90_us: float
    p99_us: float
    p999_us: float
    max_us: float
    sum_us: float = 0.0
    timed: int = 0


@dataclasses.dataclass(frozen=True)
class UpdateFigures:
    """One applied update: how many prompts, the success rate their posteriors predicted (mean
    posterior mean before the update), the rate realised (successes / trials), and the shares of
    prompts with every rollout solved or every rollout failed."""

    update_index: int
    prompts: int
    predicted: float
    realised: float
    all_solved: float
    all_failed: float

    @property
    def effective_ratio(self) -> float:
        """The share of prompts neither all solved nor all failed."""
        return max(0.0, 1.0 - self.all_solved - self.all_failed)


@dataclasses.dataclass(frozen=True)
class PoolMetrics:
    """A pool's algorithm figures (the numbers ``moppsd serve --http`` shows on ``/metrics`` and
    the dashboard): prompts whose posterior differs from the prior, prompts per posterior-mean
    decile, the last select's batch size and mean sample, and the recent updates, oldest first.

    >>> m = client.stats().pool_metrics["math"]                           # doctest: +SKIP
    >>> m.mean_histogram[5], m.recent_updates[-1].realised                # doctest: +SKIP
    """

    prompts_with_data: int
    mean_histogram: Tuple[int, ...]
    mean_sum: float
    last_select_batch: int
    last_select_mean_sample: float
    recent_updates: Tuple[UpdateFigures, ...]


@dataclasses.dataclass(frozen=True)
class StoreMetrics:
    """The state directory's figures: log bytes, fsyncs (count, total seconds, per-bound counts),
    snapshots written, and the newest full snapshot's time (Unix seconds, 0: none) and size."""

    persistent: bool
    wal_bytes: int
    fsyncs: int
    fsync_seconds_sum: float
    fsync_buckets: Tuple[int, ...]
    fsync_bucket_seconds: Tuple[float, ...]
    snapshots_written: int
    last_snapshot_unix: float
    last_snapshot_bytes: int
    last_snapshot_seconds: float


@dataclasses.dataclass(frozen=True, eq=False)
class Stats:
    """What :meth:`Client.stats` reports: uptime, requests, per method :class:`MethodStats`, the
    pools, the server's resident and pool memory in bytes, the SIMD kernel variant it runs
    (``"baseline"``, ``"avx2"`` or ``"avx512"``) on which CPU, each pool's :class:`PoolMetrics` by
    name and the state directory's :class:`StoreMetrics`.

    >>> s = client.stats()                                                # doctest: +SKIP
    >>> s.methods["Select"].p99_us, s.resident_bytes                      # doctest: +SKIP
    """

    uptime_seconds: float
    requests: int
    methods: Mapping[str, MethodStats]
    pools: Sequence[PoolInfo]
    resident_bytes: int
    pool_bytes: int
    kernel: str = ""
    cpu: str = ""
    pool_metrics: Mapping[str, PoolMetrics] = dataclasses.field(default_factory=dict)
    store: Optional[StoreMetrics] = None
