"""The moppsd client: one method per RPC of ``mopps.v1.Selector``.

The result types live in :mod:`mopps._types`, the array encoding in :mod:`mopps._codec`, the
request/reply transport with its retries in :mod:`mopps._transport`; every public name is exported
from :mod:`mopps` (the result types also from here, where older code imports them).
"""

from __future__ import annotations

import json
import math
import os
import weakref
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Tuple, Type, TypeVar, Union

import numpy as np
import numpy.typing as npt
import zmq
from google.protobuf.message import Message

from . import _codec as codec
from ._codec import group_rewards
from ._transport import CurveKeys, Reply, Transport
from ._types import ArrayLike, PoolInfo, Posteriors, Selection, SnapshotInfo, Stats, UpdateResult
from .errors import InvalidArgument, RpcError, StatusCode
from .reference import Source
from .v1 import selector_pb2 as pb

if TYPE_CHECKING:
    from .events import Event
    from .launch import Process

__all__ = [
    "ArrayLike", "Client", "PoolInfo", "Posteriors", "Selection", "SnapshotInfo", "Stats", "UpdateResult",
    "group_rewards",
]

_SERVICE = "/mopps.v1.Selector/"
_M = TypeVar("_M", bound=Message)


def _fresh_request_id() -> str:
    """A new idempotency key: 128 random bits as hex, the randomness of ``uuid.uuid4()`` (which reads
    the same ``os.urandom``) without building a UUID object, a microsecond less on every call."""
    return os.urandom(16).hex()


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

    Arrays in results (:class:`Selection`, :class:`Posteriors`) are read-only views of the reply
    (``np.frombuffer``); copy one to change it.

    >>> client = Client("ipc:///tmp/mopps-state/moppsd.sock")        # doctest: +SKIP
    >>> client.create_pool("math", decay=0.5, seed=1)                 # doctest: +SKIP
    >>> batch = client.select("math", 256, candidates=np.arange(4096)) # doctest: +SKIP
    """

    def __init__(
        self,
        endpoint: str,
        timeout: float = 5.0,
        retries: int = 2,
        context: Optional[zmq.Context[zmq.Socket[bytes]]] = None,
        publish_endpoint: Optional[str] = None,
        server_key: Optional[str] = None,
        public_key: Optional[str] = None,
        secret_key: Optional[str] = None,
    ) -> None:
        if timeout <= 0:
            raise InvalidArgument("timeout must be > 0 seconds")
        if retries < 0:
            raise InvalidArgument("retries must be >= 0")
        #: The server's --publish endpoint, for :meth:`subscribe` (set by :func:`mopps.launch`).
        self.publish_endpoint = publish_endpoint
        # CurveZMQ: the server's public key (moppsd keygen / serve --curve-secret-key) and this
        # client's key pair (a fresh one when not given; list its public key in --curve-allow).
        if (public_key is None) != (secret_key is None):
            raise InvalidArgument("give both public_key and secret_key, or neither")
        curve: Optional[CurveKeys] = None
        if server_key is not None:
            if public_key is None or secret_key is None:
                public_key, secret_key = (k.decode() for k in zmq.curve_keypair())
            curve = CurveKeys(server_key, public_key, secret_key)
        #: The moppsd this client started and stops on close (:func:`mopps.launch`), else None.
        self.process: Optional[Process] = None
        self._stop_process: Optional[weakref.finalize[..., Any]] = None
        self._transport = Transport(endpoint, timeout=timeout, retries=retries, context=context, curve=curve)

    # -- connection ----------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        return self._transport.endpoint

    @property
    def timeout(self) -> float:
        return self._transport.timeout

    @property
    def retries(self) -> int:
        return self._transport.retries

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._transport.closed

    def close(self) -> None:
        """Closes the socket (and stops the server this client owns); the client cannot be used
        afterwards.

        >>> client.close(); client.closed                                  # doctest: +SKIP
        True
        """
        self._transport.close()
        if self._stop_process is not None:
            self._stop_process()

    def _own(self, process: Process) -> None:
        """Makes this client stop ``process`` on close, when garbage-collected, or at exit."""
        self.process = process
        self._stop_process = weakref.finalize(self, _stop_in, os.getpid(), process)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # pragma: no cover - best effort at interpreter exit
        try:
            self.close()
        except Exception:
            pass

    def _request(self, method: str, body: bytes) -> Reply:
        """One request through the transport (the hook :class:`mopps.ray.RayClient` extends)."""
        return self._transport.request(method if method.startswith("/") else _SERVICE + method, body)

    def call_raw(self, method: str, body: bytes) -> Tuple[StatusCode, str, bytes]:
        """Sends one request (with retries); returns (status code, status message, reply body).

        >>> code, message, body = client.call_raw("Health", b"")          # doctest: +SKIP
        """
        reply = self._request(method, body)
        return reply.code, reply.message, reply.body

    def _send(self, method: str, request: Message) -> Reply:
        return self._request(method, request.SerializeToString())

    def _call(self, method: str, request: Message, response_type: Type[_M]) -> _M:
        return response_type.FromString(_ok(self._send(method, request)).body)

    # -- pools ---------------------------------------------------------------------------------

    def health(self) -> str:
        """``"SERVING"`` when the server is up.

        >>> client.health()                                                # doctest: +SKIP
        'SERVING'
        """
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
        dps: Optional[Mapping[str, Any]] = None,
        greso: Optional[Mapping[str, Any]] = None,
        pools: Optional[Mapping[str, Any]] = None,
    ) -> PoolInfo:
        """Creates a pool. Unset options take the server defaults: prior Beta(1, 1), decay 1,
        target 0.5, strategy ``"topk"``, band (0.3, 0.7), a random seed (reported back).

        ``strict_ids=True`` makes an Update of an id never registered ``NOT_FOUND`` instead of
        adding it (catches indices that are not the ones the pool was filled with).

        ``strategy="dps"``, ``"greso"`` or ``"pools"`` make a pool of that rule (fixed for the pool's
        life); ``dps``, ``greso`` and ``pools`` are that rule's settings keyed by the proto field names
        of DPSConfig, GRESOConfig and PoolsConfig (only the one of the pool's strategy), e.g.
        ``create_pool("math", strategy="dps", dps={"decay": 0.7, "selection": "topk+entropy"})``.
        ``exist_ok=True`` returns an existing pool of that name, but only when every setting given
        here matches it: otherwise an ``RpcError`` (``StatusCode.FAILED_PRECONDITION``) names each differing field
        (settings not given are not compared).

        >>> client.create_pool("math", decay=0.5, seed=1, strict_ids=True, exist_ok=True)  # doctest: +SKIP
        """
        requested: Dict[str, object] = {
            "prior_alpha": prior_alpha, "prior_beta": prior_beta, "decay": decay, "target": target,
            "strategy": strategy, "band": band, "seed": seed, "strict_ids": strict_ids or None,
            "dps": dps, "greso": greso, "pools": pools,
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
            cfg.strategy = codec.strategy(strategy)
        if band is not None:
            cfg.band_low, cfg.band_high = band
        if seed is not None:
            cfg.seed = seed
        if strict_ids:
            cfg.strict_ids = True
        for kind, settings in (("dps", dps), ("greso", greso), ("pools", pools)):
            if settings is not None:
                sub = getattr(cfg, kind)
                sub.SetInParent()
                codec.strategy_config(kind, settings, sub)
        reply = self._send("CreatePool", pb.CreatePoolRequest(pool=pool, config=cfg))
        # A retry finds the pool its first attempt created.
        if reply.code == StatusCode.ALREADY_EXISTS and (exist_ok or reply.retried):
            existing = next(p for p in self.list_pools() if p.name == pool)
            _check_settings(existing, requested)
            return existing
        return codec.pool_info(pb.CreatePoolResponse.FromString(_ok(reply).body).pool)

    def drop_pool(self, pool: str) -> None:
        """Drops ``pool`` and its posteriors (its tagged snapshots stay restorable).

        >>> client.drop_pool("math")                                      # doctest: +SKIP
        """
        reply = self._send("DropPool", pb.DropPoolRequest(pool=pool))
        # A retry finds the pool gone that its first attempt dropped.
        if not (reply.code == StatusCode.NOT_FOUND and reply.retried):
            _ok(reply)

    def list_pools(self) -> List[PoolInfo]:
        """All pools as :class:`PoolInfo`, sorted by name.

        >>> [p.name for p in client.list_pools()]                          # doctest: +SKIP
        ['code', 'math']
        """
        reply = self._call("ListPools", pb.ListPoolsRequest(), pb.ListPoolsResponse)
        return [codec.pool_info(p) for p in reply.pools]

    # -- prompts -------------------------------------------------------------------------------

    def register(
        self,
        pool: str,
        ids: ArrayLike,
        prior_alpha: Optional[ArrayLike] = None,
        prior_beta: Optional[ArrayLike] = None,
    ) -> int:
        """Adds prompt ids (for server-drawn and whole-pool selection); returns how many were new.
        Optional per-id priors, e.g. from offline evaluation.

        >>> client.register("math", np.arange(4096))                       # doctest: +SKIP
        4096
        """
        req = pb.RegisterRequest(pool=pool, ids_le=codec.u64(ids, "ids"))
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
            request_id=request_id or _fresh_request_id(),
            batch_size=batch_size,
            strategy=codec.strategy(strategy),
            return_means=return_means,
            return_all_samples=return_all_samples,
            packed_reply=True,
        )
        if candidates is not None:
            req.candidates_le = codec.u64(candidates, "candidates")
            if not req.candidates_le:
                raise InvalidArgument("candidates is empty; pass None to select from the registered prompts")
        if candidate_count is not None:
            req.candidate_count = candidate_count
        r = self._call("Select", req, pb.SelectResponse)
        return codec.selection(r, means=return_means, all_samples=return_all_samples)

    def update(
        self,
        pool: str,
        ids: ArrayLike,
        successes: ArrayLike,
        trials: Optional[ArrayLike] = None,
        *,
        rollouts: Optional[int] = None,
        request_id: str = "",
        step: Optional[int] = None,
    ) -> UpdateResult:
        """Reports outcomes: prompt ``ids[i]`` had ``successes[i]`` successes (may be fractional) in
        ``trials[i]`` rollouts, or in ``rollouts`` rollouts each. The ``request_id`` (a fresh one when
        empty) makes a retried update apply once; pass your own (e.g. ``f"step-{step}"``) to make a
        whole re-run of a step idempotent too.

        ``step`` (the trainer's step number) makes Updates of several data-parallel ranks one
        training step for the per-step parts of the dps and greso rules; without it each Update is
        a step of its own. Other strategies ignore it.

        >>> client.update("math", batch.ids, successes, rollouts=8, request_id=f"step-{step}")  # doctest: +SKIP
        UpdateResult(updated=256, duplicate=False)
        """
        id_bytes = codec.u64(ids, "ids")
        n = len(id_bytes) // 8
        req = pb.UpdateRequest(
            pool=pool, ids_le=id_bytes, successes_le=codec.f64(successes, n, "successes"),
            request_id=request_id or _fresh_request_id(),
        )
        if trials is not None and rollouts is not None:
            raise InvalidArgument("give trials or rollouts, not both")
        t: npt.NDArray[Any]
        if trials is not None:
            t = codec.trials(trials, n)
            req.trials_le = t.tobytes()
        elif rollouts is not None:
            if isinstance(rollouts, bool) or not float(rollouts).is_integer():
                raise InvalidArgument(f"rollouts: must be a whole number of rollouts per prompt, got {rollouts!r}")
            req.rollouts = int(rollouts)
            t = np.full(n, req.rollouts)
        else:
            raise InvalidArgument("give trials (per id) or rollouts (one count for all)")
        codec.warn_if_rates(codec.floats(req.successes_le), t)
        _set_step(req, step)
        return self._send_update(req)

    def _send_update(self, req: pb.UpdateRequest) -> UpdateResult:
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
        step: Optional[int] = None,
    ) -> UpdateResult:
        """Reports per-completion rewards in one Update: a completion succeeded when its reward is
        > ``threshold``; NaN rewards (unscored completions) are left out.

        ``rewards`` is either flat, one reward per completion with ``prompt_ids`` giving each
        completion's prompt (in any order; completions of one prompt are counted together), or a
        (B, G) matrix of B prompts × G completions with ``prompt_ids`` the B prompts. Name the
        run, the step and the rank in ``request_id`` (e.g. ``f"{run}/step-{step}/rank-{rank}"``):
        a retry or a re-run of that step then counts once, while two ranks never collide.
        ``step`` as in :meth:`update`.

        >>> client.report("math", batch.ids, rewards_matrix, request_id=f"{run}/s{step}/r{rank}")  # doctest: +SKIP
        """
        ids, successes, trials = group_rewards(prompt_ids, rewards, threshold=threshold)
        if ids.size == 0:
            return UpdateResult(updated=0, duplicate=False)
        req = pb.UpdateRequest(
            pool=pool, ids_le=codec.u64(ids, "prompt_ids"), successes_le=np.asarray(successes, dtype="<f8").tobytes(),
            trials_le=np.asarray(trials, dtype="<u4").tobytes(), request_id=request_id or _fresh_request_id())
        _set_step(req, step)
        return self._send_update(req)

    def get(self, pool: str, ids: Optional[ArrayLike] = None) -> Posteriors:
        """Posteriors of ``ids`` (the prior for unseen ids), or of every registered prompt; the
        arrays are read-only views of the reply.

        >>> client.get("math", batch.ids).means                            # doctest: +SKIP
        """
        req = pb.GetRequest(pool=pool, packed_reply=True)
        if ids is not None:
            req.ids_le = codec.u64(ids, "ids")
        return codec.posteriors(self._call("Get", req, pb.GetResponse))

    def subscribe(self, pool: Optional[str] = None, timeout: Optional[float] = None) -> Iterator[Event]:
        """Published events (:class:`mopps.Event`) of ``pool`` (or all pools), until none arrives for
        ``timeout`` seconds (forever when None). Needs ``publish_endpoint``.

        >>> for event in client.subscribe("math", timeout=1.0):            # doctest: +SKIP
        ...     print(event.kind, event.ids[:5])
        """
        from .events import Subscriber

        if not self.publish_endpoint:
            raise InvalidArgument("subscribe needs the server's --publish endpoint: Client(..., publish_endpoint=...)")
        # Connect now, not at the first next(): PUB drops what is published before a subscriber joins.
        sub = Subscriber(self.publish_endpoint, pool=pool, context=self._transport.context,
                         curve=self._transport.curve)

        def events() -> Iterator[Event]:
            try:
                yield from sub.events(timeout)
            finally:
                sub.close()

        return events()

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self, pool: str = "", tag: str = "") -> SnapshotInfo:
        """Saves ``pool`` under ``tag`` (e.g. ``f"step-{step}"`` next to a trainer checkpoint;
        an older snapshot with that tag is replaced). Without a tag, writes a full-state snapshot of
        every pool and compacts the server's log.

        >>> client.snapshot("math", f"step-{step}")                        # doctest: +SKIP
        """
        if tag and not pool:
            raise InvalidArgument("a tagged snapshot needs a pool")
        r = self._call("Snapshot", pb.SnapshotRequest(pool=pool, tag=tag), pb.SnapshotResponse)
        return codec.snapshot_info(r.snapshot)

    def restore(self, pool: str, tag: str) -> PoolInfo:
        """Puts ``pool`` back exactly as it was when ``tag`` was saved (posteriors, counters, epoch,
        request ids), also after it was dropped.

        >>> client.restore("math", "step-300").update_count                # doctest: +SKIP
        """
        r = self._call("Restore", pb.RestoreRequest(pool=pool, tag=tag), pb.RestoreResponse)
        return codec.pool_info(r.pool)

    def list_snapshots(self, pool: Optional[str] = None) -> List[SnapshotInfo]:
        """Tags of ``pool``, or all tags and full-state snapshots, as :class:`SnapshotInfo`.

        >>> [s.tag for s in client.list_snapshots("math")]                 # doctest: +SKIP
        ['step-100', 'step-200']
        """
        r = self._call("ListSnapshots", pb.ListSnapshotsRequest(pool=pool or ""), pb.ListSnapshotsResponse)
        return [codec.snapshot_info(m) for m in r.snapshots]

    # -- reference formats -------------------------------------------------------------------

    def import_state(self, pool: str, source: Source, *, format: str = "state", multiplier: float = 3.0) -> int:
        """Sets posteriors from the reference's files (see :mod:`mopps.reference`): ``format="state"``
        for ``{id: [alpha, beta]}``, ``"eval"`` for offline evaluation ``{id: [0/1, ...]}`` (priors
        alpha = multiplier * successes + alpha0, beta = multiplier * failures + beta0, with the pool's
        prior). ``source`` is a path or an already-loaded dict. Returns how many prompts were set.

        >>> client.import_state("math", "prior.json", format="eval")       # doctest: +SKIP
        """
        from . import reference

        if format == "state":
            ids, alpha, beta, names = reference.load_state(source)
        elif format == "eval":
            info = next((p for p in self.list_pools() if p.name == pool), None)
            if info is None:
                raise RpcError(StatusCode.NOT_FOUND, f'pool "{pool}" not found; create it with CreatePool')
            ids, alpha, beta, names = reference.load_eval(source, multiplier, (info.prior_alpha, info.prior_beta))
        else:
            raise InvalidArgument(f"format must be 'state' or 'eval', got {format!r}")
        req = pb.ImportRequest(
            pool=pool, ids_le=codec.u64(ids, "ids"), alpha_le=np.asarray(alpha, dtype="<f8").tobytes(),
            beta_le=np.asarray(beta, dtype="<f8").tobytes())
        if any(names):
            req.names.extend(names)
        return self._call("Import", req, pb.ImportResponse).imported

    def export_state(self, pool: str, path: Union[str, os.PathLike[str], None] = None) -> Dict[str, List[float]]:
        """The pool as the reference's ``{id: [alpha, beta]}`` (written to ``path`` as JSON if given).

        >>> client.export_state("math", "state.json")["17"]                # doctest: +SKIP
        [3.0, 6.0]
        """
        from . import reference

        r = self._call("Export", pb.ExportRequest(pool=pool), pb.ExportResponse)
        state = reference.dump_state(
            codec.ids(r.ids_le), codec.floats(r.alpha_le), codec.floats(r.beta_le), dict(zip(r.named_ids, r.names)))
        if path is not None:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(state, f)
        return state

    def stats(self) -> Stats:
        """Uptime; per method: requests, errors by code, handling-time percentiles (µs); pools;
        the server's resident and pool memory.

        >>> client.stats().methods["Select"].p99_us                         # doctest: +SKIP
        """
        return codec.stats(self._call("Stats", pb.StatsRequest(), pb.StatsResponse))


def _ok(reply: Reply) -> Reply:
    if reply.code != StatusCode.OK:
        raise RpcError(reply.code, reply.message)
    return reply


def _stop_in(pid: int, process: Process) -> None:
    """Stops ``process`` unless this is a forked child (a DataLoader worker) of its owner."""
    if os.getpid() == pid:
        process.stop()


def _set_step(req: pb.UpdateRequest, step: Optional[int]) -> None:
    if step is None:
        return
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or not 0 <= int(step) < 2**64:
        raise InvalidArgument(f"step: must be a whole number in [0, 2**64), got {step!r}")
    req.step = int(step)


def _same_setting(have: object, want: object) -> bool:
    if isinstance(want, (int, float)) and not isinstance(want, bool) and isinstance(have, (int, float)):
        return math.isclose(have, want, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(want, (list, tuple)) and isinstance(have, (list, tuple)):
        return len(want) == len(have) and all(_same_setting(a, b) for a, b in zip(have, want))
    return have == want


def _check_settings(existing: PoolInfo, requested: Mapping[str, object]) -> None:
    """FAILED_PRECONDITION naming each setting given to create_pool that the existing pool does not have."""
    differ = []
    for field, want in requested.items():
        if want is None:
            continue
        have = getattr(existing, field)
        if isinstance(want, Mapping):
            have_map = have or {}
            for key, value in want.items():
                if not _same_setting(have_map.get(key), value):
                    differ.append(f"{field}.{key} is {have_map.get(key)!r}, requested {value!r}")
            continue
        if field == "band":
            assert isinstance(want, tuple)
            same = all(math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) for a, b in zip(have, want))
        elif field != "seed" and isinstance(want, (int, float)) and not isinstance(want, bool):
            same = math.isclose(have, want, rel_tol=1e-6, abs_tol=1e-9)
        else:
            same = have == want
        if not same:
            differ.append(f"{field} is {have!r}, requested {want!r}")
    if differ:
        raise RpcError(
            StatusCode.FAILED_PRECONDITION,
            f'pool "{existing.name}" already exists with other settings: ' + "; ".join(differ)
            + " (drop it, use another pool name, or ask for its settings)")
