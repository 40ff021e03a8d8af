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
    """The server's counters of one method: requests, errors (by code) and handling-time
    percentiles in µs."""

    count: int
    errors: int
    errors_by_code: Mapping[StatusCode, int]
    p50_us: float
    p90_us: float
    p99_us: float
    p999_us: float
    max_us: float


@dataclasses.dataclass(frozen=True, eq=False)
class Stats:
    """What :meth:`Client.stats` reports: uptime, requests, per method :class:`MethodStats`, the
    pools, the server's resident and pool memory in bytes, and the SIMD kernel variant it runs
    (``"baseline"``, ``"avx2"`` or ``"avx512"``) on which CPU.

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
