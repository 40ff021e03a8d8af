"""Client for the moppsd wire protocol: [method][body] requests, [Status][body] replies, over ZeroMQ."""

from __future__ import annotations

import dataclasses
import math
import os
import uuid
import warnings
import weakref
from typing import Any, Iterable, Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import zmq

from .errors import InvalidArgument, RpcError, Unavailable
from .v1 import selector_pb2 as pb

ArrayLike = Union[np.ndarray, Sequence[int], Sequence[float], Iterable[int]]

_SERVICE = "/mopps.v1.Selector/"
_STRATEGIES = {
    None: pb.STRATEGY_UNSPECIFIED,
    "topk": pb.STRATEGY_TOPK,
    "threshold": pb.STRATEGY_THRESHOLD,
    "uniform": pb.STRATEGY_UNIFORM,
}
_STRATEGY_NAMES = {v: k for k, v in _STRATEGIES.items() if k}


@dataclasses.dataclass(frozen=True)
class PoolInfo:
    """A pool and the configuration in force (every field resolved, including a generated seed)."""

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

    @classmethod
    def _from_pb(cls, m: "pb.PoolInfo") -> "PoolInfo":
        c = m.config
        return cls(
            name=m.name,
            prior_alpha=c.prior_alpha,
            prior_beta=c.prior_beta,
            decay=c.decay,
            target=c.target,
            strategy=_STRATEGY_NAMES.get(c.strategy, "topk"),
            band=(c.band_low, c.band_high),
            seed=c.seed,
            prompt_count=m.prompt_count,
            select_count=m.select_count,
            update_count=m.update_count,
            strict_ids=c.strict_ids,
        )


@dataclasses.dataclass(frozen=True)
class Selection:
    """The chosen batch: ``ids`` (uint64) and their sampled success rates ``samples`` (float32)."""

    ids: np.ndarray
    samples: np.ndarray
    select_index: int
    means: Optional[np.ndarray] = None
    candidate_ids: Optional[np.ndarray] = None
    candidate_samples: Optional[np.ndarray] = None


@dataclasses.dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot on disk: a pool's tag, or a full-state snapshot (``pool == ""``)."""

    pool: str
    tag: str
    lsn: int
    created_unix: float
    prompt_count: int
    bytes: int

    @classmethod
    def _from_pb(cls, m) -> "SnapshotInfo":
        return cls(m.pool, m.tag, m.lsn, m.created_unix, m.prompt_count, m.bytes)


@dataclasses.dataclass(frozen=True)
class UpdateResult:
    updated: int
    duplicate: bool


@dataclasses.dataclass(frozen=True)
class Posteriors:
    """Beta(alpha, beta) per id; ``known`` is False where the id has only the prior."""

    ids: np.ndarray
    alpha: np.ndarray
    beta: np.ndarray
    known: np.ndarray

    @property
    def means(self) -> np.ndarray:
        return self.alpha / (self.alpha + self.beta)


def _u64(values: ArrayLike, field: str) -> bytes:
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


def _f64(values: ArrayLike, n: int, field: str) -> bytes:
    arr = np.asarray(values, dtype="<f8")
    if arr.ndim == 0:
        arr = np.full(n, float(arr), dtype="<f8")
    if arr.ndim != 1:
        raise InvalidArgument(f"{field}: expected a 1-D array, got shape {arr.shape}")
    return np.ascontiguousarray(arr).tobytes()


class Client:
    """A connection to one moppsd.

    One ``Client`` uses one ZeroMQ REQ socket and is not thread-safe: give each thread its own
    client (they are cheap) or guard one with a lock.

    Reliability ("Lazy Pirate"): every call waits at most ``timeout`` seconds for its reply; on a
    timeout the socket is closed and reopened and the same request is sent again, up to ``retries``
    more times, then :class:`mopps.Unavailable` is raised (the client stays usable). Updates carry a
    request id (generated when not given), so a retried Update is applied once even when only its
    reply was lost. A retried CreatePool or DropPool whose first attempt did go through is reported
    as success.

    >>> client = Client("ipc:///tmp/mopps-state/moppsd.sock")        # doctest: +SKIP
    >>> client.create_pool("math", decay=0.5, seed=1)                 # doctest: +SKIP
    >>> batch = client.select("math", 256, candidates=np.arange(4096)) # doctest: +SKIP
    """

    def __init__(
        self,
        endpoint: str,
        timeout: float = 5.0,
        retries: int = 2,
        context: Optional[zmq.Context] = None,
        publish_endpoint: Optional[str] = None,
        server_key: Optional[str] = None,
        public_key: Optional[str] = None,
        secret_key: Optional[str] = None,
    ) -> None:
        if timeout <= 0:
            raise InvalidArgument("timeout must be > 0 seconds")
        if retries < 0:
            raise InvalidArgument("retries must be >= 0")
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        #: The server's --publish endpoint, for :meth:`subscribe` (set by :func:`mopps.launch`).
        self.publish_endpoint = publish_endpoint
        self._retried = False
        # CurveZMQ: the server's public key (moppsd keygen / serve --curve-secret-key) and this
        # client's key pair (a fresh one when not given; list its public key in --curve-allow).
        if (public_key is None) != (secret_key is None):
            raise InvalidArgument("give both public_key and secret_key, or neither")
        self._curve = None
        if server_key is not None:
            if public_key is None:
                public_key, secret_key = (k.decode() for k in zmq.curve_keypair())
            self._curve = (server_key, public_key, secret_key)
        self._context = context or zmq.Context.instance()
        self._socket: Optional[zmq.Socket] = None
        #: The moppsd this client started and stops on close (:func:`mopps.launch`), else None.
        self.process: Any = None
        self._stop_process: Optional[weakref.finalize] = None
        self._connect()

    # -- connection ----------------------------------------------------------------------------

    def _connect(self) -> None:
        sock = self._context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        ms = max(1, int(self.timeout * 1000))
        sock.setsockopt(zmq.RCVTIMEO, ms)
        sock.setsockopt(zmq.SNDTIMEO, ms)
        if self._curve is not None:
            server_key, public_key, secret_key = self._curve
            sock.curve_serverkey = server_key.encode()
            sock.curve_publickey = public_key.encode()
            sock.curve_secretkey = secret_key.encode()
        sock.connect(self.endpoint)
        self._socket = sock

    def close(self) -> None:
        """Closes the socket (and stops the server this client owns); the client cannot be used
        afterwards."""
        self._close_socket()
        if self._stop_process is not None:
            self._stop_process()

    def _close_socket(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def _own(self, process: Any) -> None:
        """Makes this client stop ``process`` on close, when garbage-collected, or at exit."""
        self.process = process
        self._stop_process = weakref.finalize(self, _stop_in, os.getpid(), process)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass

    def call_raw(self, method: str, body: bytes) -> Tuple[int, str, bytes]:
        """Sends one request (with retries); returns (status code, status message, reply body)."""
        if self._socket is None:
            raise RuntimeError("client is closed")
        path = method if method.startswith("/") else _SERVICE + method
        self._retried = False
        for attempt in range(self.retries + 1):
            try:
                self._socket.send_multipart([path.encode(), body])
                frames = self._socket.recv_multipart()
                break
            except zmq.Again:
                # A REQ socket that missed its reply is stuck mid-exchange: replace it, then retry.
                self._close_socket()
                self._connect()
                self._retried = True
        else:
            raise Unavailable(
                f"no reply from {self.endpoint} within {self.timeout:g} s, {self.retries + 1} attempt(s) ({path})")
        status = pb.Status.FromString(frames[0])
        return status.code, status.message, frames[1] if len(frames) > 1 else b""

    def _call(self, method: str, request, response_type):
        code, message, body = self.call_raw(method, request.SerializeToString())
        if code != pb.OK:
            raise RpcError(pb.Code.Name(code) if code in pb.Code.values() else str(code), message)
        return response_type.FromString(body) if response_type is not None else None

    # -- pools ---------------------------------------------------------------------------------

    def health(self) -> str:
        """``"SERVING"`` when the server is up."""
        return self._call("Health", pb.HealthRequest(), pb.HealthResponse).status

    def create_pool(
        self,
        pool: str,
        *,
        prior_alpha: Optional[float] = None,
        prior_beta: Optional[float] = None,
        decay: Optional[float] = None,
        target: Optional[float] = None,
        strategy: Optional[str] = None,
        band: Optional[Tuple[float, float]] = None,
        seed: Optional[int] = None,
        strict_ids: bool = False,
        exist_ok: bool = False,
    ) -> PoolInfo:
        """Creates a pool. Unset options take the server defaults: prior Beta(1, 1), decay 1,
        target 0.5, strategy ``"topk"``, band (0.3, 0.7), a random seed (reported back).

        ``strict_ids=True`` makes an Update of an id never registered ``NOT_FOUND`` instead of
        adding it (catches indices that are not the ones the pool was filled with).
        ``exist_ok=True`` returns an existing pool of that name, but only when every setting given
        here matches it: otherwise ``RpcError("FAILED_PRECONDITION")`` names each differing field
        (settings not given are not compared).

        >>> client.create_pool("math", decay=0.5, seed=1, strict_ids=True, exist_ok=True)  # doctest: +SKIP
        """
        requested = {
            "prior_alpha": prior_alpha, "prior_beta": prior_beta, "decay": decay, "target": target,
            "strategy": strategy, "band": band, "seed": seed, "strict_ids": strict_ids or None,
        }
        cfg = pb.PoolConfig()
        if prior_alpha is not None:
            cfg.prior_alpha = prior_alpha
        if prior_beta is not None:
            cfg.prior_beta = prior_beta
        if decay is not None:
            cfg.decay = decay
        if target is not None:
            cfg.target = target
        if strategy is not None:
            cfg.strategy = _strategy(strategy)
        if band is not None:
            cfg.band_low, cfg.band_high = band
        if seed is not None:
            cfg.seed = seed
        if strict_ids:
            cfg.strict_ids = True
        try:
            reply = self._call("CreatePool", pb.CreatePoolRequest(pool=pool, config=cfg), pb.CreatePoolResponse)
        except RpcError as e:
            if e.code == "ALREADY_EXISTS" and (exist_ok or self._retried):
                existing = next(p for p in self.list_pools() if p.name == pool)
                _check_settings(existing, requested)
                return existing
            raise
        return PoolInfo._from_pb(reply.pool)

    def drop_pool(self, pool: str) -> None:
        try:
            self._call("DropPool", pb.DropPoolRequest(pool=pool), None)
        except RpcError as e:
            if not (e.code == "NOT_FOUND" and self._retried):
                raise

    def list_pools(self) -> list:
        """All pools as :class:`PoolInfo`, sorted by name."""
        reply = self._call("ListPools", pb.ListPoolsRequest(), pb.ListPoolsResponse)
        return [PoolInfo._from_pb(p) for p in reply.pools]

    # -- prompts -------------------------------------------------------------------------------

    def register(
        self,
        pool: str,
        ids: ArrayLike,
        prior_alpha: Optional[ArrayLike] = None,
        prior_beta: Optional[ArrayLike] = None,
    ) -> int:
        """Adds prompt ids (for server-drawn and whole-pool selection); returns how many were new.
        Optional per-id priors, e.g. from offline evaluation."""
        req = pb.RegisterRequest(pool=pool, ids_le=_u64(ids, "ids"))
        if prior_alpha is not None or prior_beta is not None:
            if prior_alpha is None or prior_beta is None:
                raise InvalidArgument("give both prior_alpha and prior_beta, or neither")
            req.prior_alpha.extend(np.asarray(prior_alpha, dtype=float).tolist())
            req.prior_beta.extend(np.asarray(prior_beta, dtype=float).tolist())
        return self._call("Register", req, pb.RegisterResponse).added

    def select(
        self,
        pool: str,
        batch_size: int,
        candidates: Optional[ArrayLike] = None,
        *,
        candidate_count: Optional[int] = None,
        strategy: Optional[str] = None,
        return_means: bool = False,
        return_all_samples: bool = False,
        request_id: Optional[str] = None,
    ) -> Selection:
        """Chooses ``batch_size`` prompts from ``candidates`` (ids; unseen ones use the prior), or
        from ``candidate_count`` registered prompts drawn by the server, or, with neither, from all
        registered prompts.

        ``request_id`` is the draw's idempotency key: the first Select with it draws, a later one
        with the same arguments gets the same reply without drawing again (a retry after a lost
        reply, or another data-parallel rank asking for the same batch). When None, a fresh key is
        made for this call, so the client's own retries never draw twice. Name the run, the epoch
        and the batch in your own keys (e.g. ``f"{run_id}/e{epoch}/b{batch}"``), not the rank.

        >>> client.select("math", 256, candidates=ids, request_id=f"{run}/e0/b17")  # doctest: +SKIP
        """
        if batch_size < 0:
            raise InvalidArgument("batch_size must be >= 0")
        req = pb.SelectRequest(
            pool=pool,
            request_id=request_id or uuid.uuid4().hex,
            batch_size=batch_size,
            strategy=_strategy(strategy),
            return_means=return_means,
            return_all_samples=return_all_samples,
            packed_reply=True,
        )
        if candidates is not None:
            req.candidates_le = _u64(candidates, "candidates")
            if not req.candidates_le:
                raise InvalidArgument("candidates is empty; pass None to select from the registered prompts")
        if candidate_count is not None:
            req.candidate_count = candidate_count
        r = self._call("Select", req, pb.SelectResponse)
        return Selection(
            ids=np.frombuffer(r.ids_le, dtype="<u8"),
            samples=np.frombuffer(r.samples_le, dtype="<f4"),
            select_index=r.select_index,
            means=np.frombuffer(r.means_le, dtype="<f8") if return_means else None,
            candidate_ids=np.frombuffer(r.candidate_ids_le, dtype="<u8") if return_all_samples else None,
            candidate_samples=np.frombuffer(r.candidate_samples_le, dtype="<f4") if return_all_samples else None,
        )

    def update(
        self,
        pool: str,
        ids: ArrayLike,
        successes: ArrayLike,
        trials: Optional[ArrayLike] = None,
        *,
        rollouts: Optional[int] = None,
        request_id: str = "",
    ) -> UpdateResult:
        """Reports outcomes: prompt ``ids[i]`` had ``successes[i]`` successes (may be fractional) in
        ``trials[i]`` rollouts, or in ``rollouts`` rollouts each. The ``request_id`` (a fresh one when
        empty) makes a retried update apply once; pass your own (e.g. ``f"step-{step}"``) to make a
        whole re-run of a step idempotent too."""
        id_bytes = _u64(ids, "ids")
        n = len(id_bytes) // 8
        req = pb.UpdateRequest(
            pool=pool, ids_le=id_bytes, successes_le=_f64(successes, n, "successes"),
            request_id=request_id or uuid.uuid4().hex,
        )
        if trials is not None and rollouts is not None:
            raise InvalidArgument("give trials or rollouts, not both")
        if trials is not None:
            t = np.asarray(trials)
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
            req.trials_le = np.ascontiguousarray(t, dtype="<u4").tobytes()
        elif rollouts is not None:
            if isinstance(rollouts, bool) or not float(rollouts).is_integer():
                raise InvalidArgument(f"rollouts: must be a whole number of rollouts per prompt, got {rollouts!r}")
            req.rollouts = int(rollouts)
            t = np.full(n, req.rollouts)
        else:
            raise InvalidArgument("give trials (per id) or rollouts (one count for all)")
        _warn_if_rates(np.frombuffer(req.successes_le, dtype="<f8"), t)
        return self._send_update(req)

    def _send_update(self, req: "pb.UpdateRequest") -> UpdateResult:
        r = self._call("Update", req, pb.UpdateResponse)
        return UpdateResult(updated=r.updated, duplicate=r.duplicate)

    def report(
        self,
        pool: str,
        prompt_ids: ArrayLike,
        rewards: ArrayLike,
        *,
        threshold: float = 0.0,
        request_id: Optional[str] = None,
    ) -> UpdateResult:
        """Reports per-completion rewards in one Update: a completion succeeded when its reward is
        > ``threshold``; NaN rewards (unscored completions) are left out.

        ``rewards`` is either flat, one reward per completion with ``prompt_ids`` giving each
        completion's prompt (in any order; completions of one prompt are counted together), or a
        (B, G) matrix of B prompts × G completions with ``prompt_ids`` the B prompts. Name the
        run, the step and the rank in ``request_id`` (e.g. ``f"{run}/step-{step}/rank-{rank}"``):
        a retry or a re-run of that step then counts once, while two ranks never collide.

        >>> client.report("math", batch.ids, rewards_matrix, request_id=f"{run}/s{step}/r{rank}")  # doctest: +SKIP
        """
        ids, successes, trials = group_rewards(prompt_ids, rewards, threshold=threshold)
        if ids.size == 0:
            return UpdateResult(updated=0, duplicate=False)
        req = pb.UpdateRequest(
            pool=pool, ids_le=_u64(ids, "prompt_ids"), successes_le=np.asarray(successes, dtype="<f8").tobytes(),
            trials_le=np.asarray(trials, dtype="<u4").tobytes(), request_id=request_id or uuid.uuid4().hex)
        return self._send_update(req)

    def get(self, pool: str, ids: Optional[ArrayLike] = None) -> Posteriors:
        """Posteriors of ``ids`` (the prior for unseen ids), or of every registered prompt."""
        req = pb.GetRequest(pool=pool, packed_reply=True)
        if ids is not None:
            req.ids_le = _u64(ids, "ids")
        r = self._call("Get", req, pb.GetResponse)
        return Posteriors(
            ids=np.frombuffer(r.ids_le, dtype="<u8"),
            alpha=np.frombuffer(r.alpha_le, dtype="<f8"),
            beta=np.frombuffer(r.beta_le, dtype="<f8"),
            known=np.asarray(r.known, dtype=bool),
        )

    def subscribe(self, pool: Optional[str] = None, timeout: Optional[float] = None) -> Iterator:
        """Published events (:class:`mopps.Event`) of ``pool`` (or all pools), until none arrives for
        ``timeout`` seconds (forever when None). Needs ``publish_endpoint``."""
        from .events import Subscriber

        if not self.publish_endpoint:
            raise InvalidArgument("subscribe needs the server's --publish endpoint: Client(..., publish_endpoint=...)")
        # Connect now, not at the first next(): PUB drops what is published before a subscriber joins.
        sub = Subscriber(self.publish_endpoint, pool=pool, context=self._context, curve=self._curve)

        def events():
            try:
                yield from sub.events(timeout)
            finally:
                sub.close()

        return events()

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self, pool: str = "", tag: str = "") -> SnapshotInfo:
        """Saves ``pool`` under ``tag`` (e.g. ``f"step-{step}"`` next to a trainer checkpoint;
        an older snapshot with that tag is replaced). Without a tag, writes a full-state snapshot of
        every pool and compacts the server's log."""
        if tag and not pool:
            raise InvalidArgument("a tagged snapshot needs a pool")
        r = self._call("Snapshot", pb.SnapshotRequest(pool=pool, tag=tag), pb.SnapshotResponse)
        return SnapshotInfo._from_pb(r.snapshot)

    def restore(self, pool: str, tag: str) -> PoolInfo:
        """Puts ``pool`` back exactly as it was when ``tag`` was saved (posteriors, counters, epoch,
        request ids), also after it was dropped."""
        r = self._call("Restore", pb.RestoreRequest(pool=pool, tag=tag), pb.RestoreResponse)
        return PoolInfo._from_pb(r.pool)

    def list_snapshots(self, pool: Optional[str] = None) -> list:
        """Tags of ``pool``, or all tags and full-state snapshots, as :class:`SnapshotInfo`."""
        r = self._call("ListSnapshots", pb.ListSnapshotsRequest(pool=pool or ""), pb.ListSnapshotsResponse)
        return [SnapshotInfo._from_pb(m) for m in r.snapshots]

    # -- reference formats -------------------------------------------------------------------

    def import_state(self, pool: str, source, *, format: str = "state", multiplier: float = 3.0) -> int:
        """Sets posteriors from the reference's files (see :mod:`mopps.reference`): ``format="state"``
        for ``{id: [alpha, beta]}``, ``"eval"`` for offline evaluation ``{id: [0/1, ...]}`` (priors
        alpha = multiplier * successes + alpha0, beta = multiplier * failures + beta0, with the pool's
        prior). ``source`` is a path or an already-loaded dict. Returns how many prompts were set."""
        from . import reference

        if format == "state":
            ids, alpha, beta, names = reference.load_state(source)
        elif format == "eval":
            info = next((p for p in self.list_pools() if p.name == pool), None)
            if info is None:
                raise RpcError("NOT_FOUND", f'pool "{pool}" not found; create it with CreatePool')
            ids, alpha, beta, names = reference.load_eval(source, multiplier, (info.prior_alpha, info.prior_beta))
        else:
            raise InvalidArgument(f"format must be 'state' or 'eval', got {format!r}")
        req = pb.ImportRequest(
            pool=pool, ids_le=_u64(ids, "ids"), alpha_le=np.asarray(alpha, dtype="<f8").tobytes(),
            beta_le=np.asarray(beta, dtype="<f8").tobytes())
        if any(names):
            req.names.extend(names)
        return self._call("Import", req, pb.ImportResponse).imported

    def export_state(self, pool: str, path=None) -> dict:
        """The pool as the reference's ``{id: [alpha, beta]}`` (written to ``path`` as JSON if given)."""
        import json

        from . import reference

        r = self._call("Export", pb.ExportRequest(pool=pool), pb.ExportResponse)
        state = reference.dump_state(
            np.frombuffer(r.ids_le, dtype="<u8"), np.frombuffer(r.alpha_le, dtype="<f8"),
            np.frombuffer(r.beta_le, dtype="<f8"), dict(zip(r.named_ids, r.names)))
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(state, f)
        return state

    def stats(self) -> dict:
        """Uptime; per method: requests, errors by code, handling-time percentiles (µs); pools;
        the server's resident and pool memory."""
        r = self._call("Stats", pb.StatsRequest(), pb.StatsResponse)
        return {
            "uptime_seconds": r.uptime_seconds,
            "requests": r.requests,
            "methods": {
                m.method: {
                    "count": m.count, "errors": m.errors,
                    "errors_by_code": {pb.Code.Name(c.code): c.count for c in m.errors_by_code},
                    "p50_us": m.p50_us, "p90_us": m.p90_us, "p99_us": m.p99_us, "p999_us": m.p999_us,
                    "max_us": m.max_us,
                }
                for m in r.methods
            },
            "pools": [PoolInfo._from_pb(p) for p in r.pools],
            "resident_bytes": r.resident_bytes,
            "pool_bytes": r.pool_bytes,
        }


def _stop_in(pid: int, process: Any) -> None:
    """Stops ``process`` unless this is a forked child (a DataLoader worker) of its owner."""
    if os.getpid() == pid:
        process.stop()


def group_rewards(
    prompt_ids: ArrayLike, rewards: ArrayLike, *, threshold: float = 0.0
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-completion rewards grouped by prompt, as :meth:`Client.report` sends them: the distinct
    prompt ids (uint64, sorted), successes (completions with reward > ``threshold``) and trials
    (scored completions), NaN rewards left out. ``rewards`` is flat (one per completion, with one
    id per completion) or a (B, G) matrix (with B ids).

    >>> group_rewards([5, 5, 9], [1.0, 0.0, 1.0])
    (array([5, 9], dtype=uint64), array([1., 1.]), array([2, 1], dtype=uint32))
    """
    reward = np.asarray(rewards, dtype=float)
    index = np.frombuffer(_u64(prompt_ids, "prompt_ids"), dtype="<u8")
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
    trials = np.bincount(inverse, minlength=ids.size).astype(np.uint32)
    successes = np.bincount(inverse, weights=(reward[keep] > threshold).astype(float), minlength=ids.size)
    return ids.astype(np.uint64), successes, trials


def _warn_if_rates(successes: np.ndarray, trials: np.ndarray) -> None:
    """Success rates passed where counts belong look like: every value <= 1 although prompts had
    several rollouts, and some value fractional (whole 0/1 counts are plausible on hard data)."""
    if (successes.size and trials.size == successes.size and np.all(trials > 1) and np.all(successes <= 1)
            and np.any((successes > 0) & (successes < 1))):
        warnings.warn(
            "update: every success is <= 1 while each prompt had > 1 rollout; successes are counts "
            "(rate x trials), not success rates. Use report() with per-completion rewards, or "
            "successes=rate * trials.", UserWarning, stacklevel=3)


def _check_settings(existing: PoolInfo, requested: dict) -> None:
    """FAILED_PRECONDITION naming each setting given to create_pool that the existing pool does not have."""
    differ = []
    for field, want in requested.items():
        if want is None:
            continue
        have = getattr(existing, field)
        if field == "band":
            same = all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(have, want))
        elif field != "seed" and isinstance(want, (int, float)) and not isinstance(want, bool):
            same = math.isclose(have, want, rel_tol=1e-6, abs_tol=1e-9)
        else:
            same = have == want
        if not same:
            differ.append(f"{field} is {have!r}, requested {want!r}")
    if differ:
        raise RpcError(
            "FAILED_PRECONDITION",
            f'pool "{existing.name}" already exists with other settings: ' + "; ".join(differ)
            + " (drop it, use another pool name, or ask for its settings)")


def _strategy(name: Optional[str]) -> int:
    try:
        return _STRATEGIES[name]
    except KeyError:
        raise InvalidArgument(f"strategy must be one of topk, threshold, uniform; got {name!r}") from None
