"""Subscribing to moppsd's PUB events (topics ``mopps.v1.<pool>.select`` / ``.update``)."""

from __future__ import annotations

import dataclasses
from typing import Iterator, Optional, Tuple, Union

import numpy as np
import numpy.typing as npt
import zmq

from .v1 import selector_pb2 as pb


@dataclasses.dataclass(frozen=True)
class Event:
    """One published event. ``kind`` is ``"select"`` or ``"update"``; ``message`` the decoded
    ``SelectEvent`` / ``UpdateEvent``; ``ids`` its prompt ids as an array."""

    pool: str
    kind: str
    message: Union[pb.SelectEvent, pb.UpdateEvent]

    @property
    def ids(self) -> npt.NDArray[np.uint64]:
        return np.asarray(self.message.ids, dtype=np.uint64)


class Subscriber:
    """Iterates over events from a moppsd ``--publish`` endpoint.

    PUB/SUB drops what is published before the subscription reaches the server (ZeroMQ's "slow
    joiner"): create the subscriber, then give it a moment (or wait for a first event) before relying
    on seeing everything.

    >>> with Subscriber("ipc:///tmp/mopps-state/events.sock", pool="math") as sub:  # doctest: +SKIP
    ...     for event in sub.events(timeout=1.0):
    ...         print(event.kind, event.ids[:5])
    """

    def __init__(self, endpoint: str, pool: Optional[str] = None,
                 context: Optional[zmq.Context[zmq.Socket[bytes]]] = None,
                 curve: Optional[Tuple[str, str, str]] = None) -> None:
        """``curve``: (server public key, client public key, client secret key) for a CURVE server."""
        self._socket = (context or zmq.Context.instance()).socket(zmq.SUB)
        self._socket.setsockopt(zmq.LINGER, 0)
        if curve is not None:
            self._socket.curve_serverkey, self._socket.curve_publickey, self._socket.curve_secretkey = (
                k.encode() for k in curve)
        self._socket.setsockopt(zmq.SUBSCRIBE, f"mopps.v1.{pool}.".encode() if pool else b"mopps.v1.")
        self._socket.connect(endpoint)

    def receive(self, timeout: Optional[float] = None) -> Optional[Event]:
        """The next event, or None after ``timeout`` seconds (None: wait forever)."""
        if timeout is not None and not self._socket.poll(int(timeout * 1000)):
            return None
        topic, body = self._socket.recv_multipart()
        _, _, rest = topic.decode().partition("mopps.v1.")
        pool, _, kind = rest.rpartition(".")
        message = pb.SelectEvent.FromString(body) if kind == "select" else pb.UpdateEvent.FromString(body)
        return Event(pool=pool, kind=kind, message=message)

    def events(self, timeout: Optional[float] = None) -> Iterator[Event]:
        """Events until none arrives for ``timeout`` seconds (forever when None)."""
        while True:
            event = self.receive(timeout)
            if event is None:
                return
            yield event

    def close(self) -> None:
        self._socket.close(linger=0)

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
