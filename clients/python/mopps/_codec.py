"""Arrays to and from the wire: ids and per-id values travel as little-endian packed bytes
(``*_le`` fields), and replies are turned into the result types of :mod:`mopps._types`.

Decoded arrays are ``np.frombuffer`` views of the reply body: read-only, no copy.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, Mapping, Optional, Tuple

import numpy as np
import numpy.typing as npt

from ._types import (
    ArrayLike, BoolArray, F32Array, F64Array, MethodStats, PoolInfo, PoolMetrics, Posteriors, Selection,
    SnapshotInfo, Stats, StoreMetrics, U32Array, U64Array, UpdateFigures,
)
from .errors import InvalidArgument, StatusCode
from .v1 import selector_pb2 as pb

_STRATEGIES: Dict[Optional[str], "pb.Strategy"] = {
    None: pb.STRATEGY_UNSPECIFIED,
    "topk": pb.STRATEGY_TOPK,
    "threshold": pb.STRATEGY_THRESHOLD,
    "uniform": pb.STRATEGY_UNIFORM,
    "dps": pb.STRATEGY_DPS,
    "greso": pb.STRATEGY_GRESO,
    "pools": pb.STRATEGY_POOLS,
}
_STRATEGY_NAMES: Dict[int, str] = {v: k for k, v in _STRATEGIES.items() if k}


def strategy(name: Optional[str]) -> "pb.Strategy":
    """The wire value of a strategy name (None: the pool's own)."""
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise InvalidArgument(
            f"strategy must be one of topk, threshold, uniform, dps, greso, pools; got {name!r}") from None


# The strategy messages of PoolConfig: their fields and the Python types each accepts.
_STRATEGY_CONFIGS: Dict[str, Any] = {
    "dps": pb.DPSConfig,
    "greso": pb.GRESOConfig,
    "pools": pb.PoolsConfig,
}


def strategy_config(kind: str, settings: Mapping[str, Any], target: Any) -> None:
    """Fills ``target`` (a DPSConfig, GRESOConfig or PoolsConfig) from a dict keyed by its proto
    field names; an unknown key or a value of the wrong type is InvalidArgument naming it."""
    fields = target.DESCRIPTOR.fields_by_name
    for key, value in settings.items():
        if key not in fields:
            raise InvalidArgument(
                f"{kind}.{key}: unknown setting; {kind} takes {', '.join(sorted(fields))}")
        field = fields[key]
        try:
            if _repeated(field):
                getattr(target, key).extend(float(v) for v in value)
            elif field.type == field.TYPE_BOOL:
                if not isinstance(value, (bool, np.bool_)):
                    raise TypeError(f"expected a bool, got {value!r}")
                setattr(target, key, bool(value))
            elif field.type == field.TYPE_STRING:
                if not isinstance(value, str):
                    raise TypeError(f"expected a string, got {value!r}")
                setattr(target, key, value)
            else:
                if isinstance(value, bool):
                    raise TypeError(f"expected a number, got {value!r}")
                setattr(target, key, float(value))
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"{kind}.{key}: {e}") from None


def _repeated(field: Any) -> bool:
    # protobuf 6.30+ has is_repeated and drops label; older ones (>= 4.21) have label only.
    flag = getattr(field, "is_repeated", None)
    return bool(flag) if flag is not None else bool(field.label == field.LABEL_REPEATED)


def _settings(m: Any) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for field in m.DESCRIPTOR.fields:
        value = getattr(m, field.name)
        out[field.name] = [float(v) for v in value] if _repeated(field) else value
    return out


# -- requests ------------------------------------------------------------------------------------


def u64(values: ArrayLike, field: str) -> bytes:
    """Ids as packed little-endian uint64; refuses negative, fractional and too large ids."""
    if not isinstance(values, np.ndarray):
        values = list(values)
        # Python ints up to 2**64 - 1 (numpy would turn ids >= 2**63 into float64).
        if values and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
            if min(values) < 0:
                raise InvalidArgument(f"{field}: ids must be non-negative")
            if max(values) >= 2**64:
                raise InvalidArgument(f"{field}: ids must be < 2**64")
            return np.array(values, dtype="<u8").tobytes()
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidArgument(f"{field}: expected a 1-D array, got shape {arr.shape}")
    if arr.size and arr.dtype.kind not in "ui":
        raise InvalidArgument(f"{field}: expected integer ids, got dtype {arr.dtype}")
    if arr.size and arr.dtype.kind == "i" and arr.min() < 0:
        raise InvalidArgument(f"{field}: ids must be non-negative")
    return np.ascontiguousarray(arr, dtype="<u8").tobytes()


def f64(values: ArrayLike | float, n: int, field: str) -> bytes:
    """Per-id values as packed little-endian float64; a scalar is repeated ``n`` times."""
    arr = np.asarray(values, dtype="<f8")
    if arr.ndim == 0:
        arr = np.full(n, float(arr), dtype="<f8")
    if arr.ndim != 1:
        raise InvalidArgument(f"{field}: expected a 1-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr).tobytes()


def trials(values: ArrayLike | int, n: int) -> U32Array:
    """Rollout counts per id (a scalar for all ``n``): whole numbers in [0, 2**32)."""
    t = np.asarray(values)
    if t.ndim == 0:
        t = np.full(n, t)
    if t.dtype.kind not in "uif":
        raise InvalidArgument(f"trials: expected rollout counts, got dtype {t.dtype}")
    fractional = np.flatnonzero(np.floor(t) != t)
    if fractional.size:
        raise InvalidArgument(
            f"trials: rollout counts must be whole numbers, got {t[fractional[0]]!r} at position "
            f"{fractional[0]} (successes may be fractional, trials may not)")
    if t.size and (t.min() < 0 or t.max() > 0xFFFFFFFF):
        raise InvalidArgument("trials must be in [0, 2**32)")
    return np.ascontiguousarray(t, dtype="<u4")


def group_rewards(
    prompt_ids: ArrayLike, rewards: ArrayLike, *, threshold: float = 0.0
) -> Tuple[U64Array, F64Array, U32Array]:
    """Per-completion rewards grouped by prompt, as :meth:`Client.report` sends them: the distinct
    prompt ids (uint64, sorted), successes (completions with reward > ``threshold``) and trials
    (scored completions), NaN rewards left out. ``rewards`` is flat (one per completion, with one
    id per completion) or a (B, G) matrix (with B ids).

    >>> group_rewards([5, 5, 9], [1.0, 0.0, 1.0])
    (array([5, 9], dtype=uint64), array([1., 1.]), array([2, 1], dtype=uint32))
    """
    reward = np.asarray(rewards, dtype=float)
    index = np.frombuffer(u64(prompt_ids, "prompt_ids"), dtype="<u8")
    if reward.ndim == 2:
        if reward.shape[0] != index.size:
            raise InvalidArgument(f"prompt_ids: {index.size} ids for a rewards matrix of {reward.shape[0]} rows")
        index = np.repeat(index, reward.shape[1])
        reward = reward.reshape(-1)
    elif reward.ndim != 1 or reward.size != index.size:
        raise InvalidArgument(
            f"rewards: expected one reward per prompt id (flat) or a (B, G) matrix, got shape {reward.shape} "
            f"for {index.size} ids")
    keep = ~np.isnan(reward)
    ids, inverse = np.unique(index[keep], return_inverse=True)
    counts = np.bincount(inverse, minlength=ids.size).astype(np.uint32)
    successes = np.bincount(inverse, weights=(reward[keep] > threshold).astype(float), minlength=ids.size)
    return ids.astype(np.uint64), successes.astype(np.float64), counts


def warn_if_rates(successes: F64Array, trials: npt.NDArray[Any]) -> None:
    """Success rates passed where counts belong look like: every value <= 1 although prompts had
    several rollouts, and some value fractional (whole 0/1 counts are plausible on hard data)."""
    if (successes.size and trials.size == successes.size and np.all(trials > 1) and np.all(successes <= 1)
            and np.any((successes > 0) & (successes < 1))):
        warnings.warn(
            "update: every success is <= 1 while each prompt had > 1 rollout; successes are counts "
            "(rate x trials), not success rates. Use report() with per-completion rewards, or "
            "successes=rate * trials.", UserWarning, stacklevel=3)


# -- replies -------------------------------------------------------------------------------------


def ids(data: bytes) -> U64Array:
    """Packed uint64 ids as a read-only view."""
    return np.frombuffer(data, dtype="<u8")


def floats(data: bytes) -> F64Array:
    """Packed float64 values as a read-only view."""
    return np.frombuffer(data, dtype="<f8")


def samples(data: bytes) -> F32Array:
    """Packed float32 samples as a read-only view."""
    return np.frombuffer(data, dtype="<f4")


def pool_info(m: pb.PoolInfo) -> PoolInfo:
    c = m.config
    name = _STRATEGY_NAMES.get(c.strategy, "topk")
    own = {k: _settings(getattr(c, k)) for k in _STRATEGY_CONFIGS if k == name and c.HasField(k)}
    return PoolInfo(
        name=m.name,
        prior_alpha=c.prior_alpha,
        prior_beta=c.prior_beta,
        decay=c.decay,
        target=c.target,
        strategy=name,
        band=(c.band_low, c.band_high),
        seed=c.seed,
        prompt_count=m.prompt_count,
        select_count=m.select_count,
        update_count=m.update_count,
        strict_ids=c.strict_ids,
        dps=own.get("dps"),
        greso=own.get("greso"),
        pools=own.get("pools"),
        steps=m.state.steps,
        greso_p_easy=m.state.greso_p_easy if name == "greso" else None,
        greso_p_hard=m.state.greso_p_hard if name == "greso" else None,
        bytes_per_prompt=m.state.bytes_per_prompt,
    )


def snapshot_info(m: pb.SnapshotInfo) -> SnapshotInfo:
    return SnapshotInfo(m.pool, m.tag, m.lsn, m.created_unix, m.prompt_count, m.bytes)


def selection(r: pb.SelectResponse, *, means: bool, all_samples: bool) -> Selection:
    return Selection(
        ids=ids(r.ids_le),
        samples=samples(r.samples_le),
        select_index=r.select_index,
        means=floats(r.means_le) if means else None,
        candidate_ids=ids(r.candidate_ids_le) if all_samples else None,
        candidate_samples=samples(r.candidate_samples_le) if all_samples else None,
    )


def posteriors(r: pb.GetResponse) -> Posteriors:
    known: BoolArray = np.asarray(r.known, dtype=bool)
    n = len(r.ids_le) // 8
    return Posteriors(
        ids=ids(r.ids_le), alpha=floats(r.alpha_le), beta=floats(r.beta_le), known=known,
        dps_predicted=np.asarray(r.dps_predicted, dtype=np.float64).reshape(n, 3) if len(r.dps_predicted) else None,
        greso_easy_run=np.asarray(r.greso_easy_run, dtype=np.uint32) if len(r.greso_easy_run) else None,
        greso_hard_run=np.asarray(r.greso_hard_run, dtype=np.uint32) if len(r.greso_hard_run) else None,
        last_mean=np.asarray(r.last_mean, dtype=np.float64) if len(r.last_mean) else None,
    )


def stats(r: pb.StatsResponse) -> Stats:
    return Stats(
        uptime_seconds=r.uptime_seconds,
        requests=r.requests,
        methods={
            m.method: MethodStats(
                count=m.count, errors=m.errors,
                errors_by_code={StatusCode(c.code): c.count for c in m.errors_by_code},
                p50_us=m.p50_us, p90_us=m.p90_us, p99_us=m.p99_us, p999_us=m.p999_us, max_us=m.max_us,
                sum_us=m.sum_us, timed=m.timed)
            for m in r.methods
        },
        pools=tuple(pool_info(p) for p in r.pools),
        resident_bytes=r.resident_bytes,
        pool_bytes=r.pool_bytes,
        kernel=r.kernel,
        cpu=r.cpu,
        pool_metrics={p.name: pool_metrics(p.metrics) for p in r.pools if p.HasField("metrics")},
        store=store_metrics(r.store) if r.HasField("store") else None,
    )


def pool_metrics(m: pb.PoolMetrics) -> PoolMetrics:
    return PoolMetrics(
        prompts_with_data=m.prompts_with_data,
        mean_histogram=tuple(m.mean_histogram),
        mean_sum=m.mean_sum,
        last_select_batch=m.last_select_batch,
        last_select_mean_sample=m.last_select_mean_sample,
        recent_updates=tuple(
            UpdateFigures(u.update_index, u.prompts, u.predicted, u.realised, u.all_solved, u.all_failed)
            for u in m.recent_updates
        ),
    )


def store_metrics(m: pb.StoreMetrics) -> StoreMetrics:
    return StoreMetrics(
        persistent=m.persistent, wal_bytes=m.wal_bytes, fsyncs=m.fsyncs, fsync_seconds_sum=m.fsync_seconds_sum,
        fsync_buckets=tuple(m.fsync_buckets), fsync_bucket_seconds=tuple(m.fsync_bucket_seconds),
        snapshots_written=m.snapshots_written, last_snapshot_unix=m.last_snapshot_unix,
        last_snapshot_bytes=m.last_snapshot_bytes, last_snapshot_seconds=m.last_snapshot_seconds,
    )
