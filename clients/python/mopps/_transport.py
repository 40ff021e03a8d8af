"""One request, one reply over a ZeroMQ REQ socket, with retries ("Lazy Pirate").

Every attempt waits at most ``timeout`` seconds for its reply; on a timeout the socket is closed and
reopened (a REQ socket that missed its reply is stuck mid-exchange) and the same request is sent
again, up to ``retries`` more times, then :class:`mopps.Unavailable` is raised. What a retry means
for a method is the RPC layer's business: the transport only says, in :attr:`Reply.retried`, that
an earlier attempt may have reached the server.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

import zmq

from .errors import StatusCode, Unavailable
from .v1 import selector_pb2 as pb


class CurveKeys(NamedTuple):
    """CurveZMQ keys (Z85 text): the server's public key and this client's key pair."""

    server_key: str
    public_key: str
    secret_key: str


@dataclasses.dataclass(frozen=True)
class Reply:
    """A reply's status, status message and body. ``retried`` is True when an earlier attempt of
    the same request got no reply: the server may have handled it already."""

    code: StatusCode
    message: str
    body: bytes
    retried: bool = False


class Transport:
    """A REQ socket to ``endpoint`` that resends a request whose reply does not come in time.
    Not thread-safe (like the socket).

    >>> t = Transport("ipc:///tmp/mopps-state/moppsd.sock", timeout=5.0, retries=2)  # doctest: +SKIP
    >>> t.request("/mopps.v1.Selector/Health", b"").code                          # doctest: +SKIP
    <StatusCode.OK: 0>
    """

    def __init__(self, endpoint: str, *, timeout: float, retries: int, context: Optional[zmq.Context[zmq.Socket[bytes]]] = None,
                 curve: Optional[CurveKeys] = None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.curve = curve
        self.context: zmq.Context[zmq.Socket[bytes]] = context or zmq.Context.instance()
        self._socket: Optional[zmq.Socket[bytes]] = None
        self._connect()

    @property
    def closed(self) -> bool:
        return self._socket is None

    def _connect(self) -> None:
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        ms = max(1, int(self.timeout * 1000))
        sock.setsockopt(zmq.RCVTIMEO, ms)
        sock.setsockopt(zmq.SNDTIMEO, ms)
        if self.curve is not None:
            sock.curve_serverkey = self.curve.server_key.encode()
            sock.curve_publickey = self.curve.public_key.encode()
            sock.curve_secretkey = self.curve.secret_key.encode()
        sock.connect(self.endpoint)
        self._socket = sock

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None

    def request(self, path: str, body: bytes) -> Reply:
        """Sends ``[path][body]`` and returns the reply, resending after each timeout."""
        if self._socket is None:
            raise RuntimeError("client is closed")
        for attempt in range(self.retries + 1):
            try:
                self._socket.send_multipart([path.encode(), body])
                frames = self._socket.recv_multipart()
                break
            except zmq.Again:
                self.close()
                self._connect()
                assert self._socket is not None
        else:
            raise Unavailable(
                f"no reply from {self.endpoint} within {self.timeout:g} s, {self.retries + 1} attempt(s) ({path})")
        status = pb.Status.FromString(frames[0])
        return Reply(StatusCode(status.code), status.message, frames[1] if len(frames) > 1 else b"",
                     retried=attempt > 0)
