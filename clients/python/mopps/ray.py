"""moppsd past one machine: the sidecar inside a named, detached Ray actor.

:func:`start` places an actor on one node of the Ray cluster (the current node by default); the
actor creates a CurveZMQ key pair, runs ``moppsd serve`` as its subprocess on tcp on that node's
address with the secret key, and stops it when the actor goes (:func:`stop`, ``ray.kill``, a dead
worker: moppsd runs with ``--exit-with-parent``). Any Ray driver, task or actor then gets a
connected :class:`mopps.Client` from :func:`client`, which looks the endpoint and the server's
public key up through the actor: the key is obtainable only through the Ray cluster, and any
client that has it is let in. Ray is an optional dependency (``pip install 'mopps[ray]'``);
``import mopps`` does not import it.

>>> import ray, mopps.ray
>>> ray.init(address="auto")                                                  # doctest: +SKIP
>>> server = mopps.ray.start("mopps", state_dir="/data/mopps-state")          # doctest: +SKIP
>>> client = mopps.ray.client("mopps")     # driver, or inside any Ray task   # doctest: +SKIP
>>> client.create_pool("math", exist_ok=True)                                 # doctest: +SKIP
>>> mopps.ray.stop("mopps")                                                   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from typing import Any, Callable, List, Optional, Sequence, Tuple

import zmq

from ._transport import CurveKeys, Reply, Transport
from .client import Client
from .errors import LaunchError, StatusCode, Unavailable
from .launch import Process, find_moppsd, state_dir_in_use

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("mopps.ray needs Ray: pip install 'mopps[ray]'") from e

__all__ = ["NAMESPACE", "RayClient", "Server", "client", "info", "start", "stop"]

#: The Ray namespace of the actors (a fixed one, so that other jobs on the cluster find them too).
NAMESPACE = "mopps"


@dataclasses.dataclass(frozen=True)
class Server:
    """A moppsd run by a Ray actor: where to reach it and the server's CurveZMQ public key
    (``None`` when started with ``insecure=True``)."""

    name: str
    namespace: str
    node_id: str
    address: str
    endpoint: str
    publish_endpoint: str
    server_key: Optional[str]
    state_dir: str
    pid: int
    #: moppsd's log on that node (stderr, appended to by every start under this name).
    log: str


def _not_running(name: str, namespace: str, why: str) -> Unavailable:
    return Unavailable(f"moppsd actor {name!r} (Ray namespace {namespace!r}) is not running: {why}")


def info(name: str = "mopps", *, namespace: str = NAMESPACE, timeout: float = 30.0) -> Server:
    """The :class:`Server` of the actor ``name``; :class:`mopps.Unavailable` naming the actor when
    there is no such actor, it died, its moppsd exited, or it does not answer within ``timeout``.

    >>> mopps.ray.info("mopps").endpoint                                  # doctest: +SKIP
    'tcp://10.0.0.5:40123'
    """
    try:
        actor = ray.get_actor(name, namespace=namespace)
    except ValueError:
        raise _not_running(name, namespace, "no Ray actor of that name") from None
    try:
        server: Server = ray.get(actor.info.remote(), timeout=timeout)
        return server
    except RayActorError as e:
        raise _not_running(name, namespace, f"the actor died ({type(e).__name__})") from None
    except GetTimeoutError:
        raise Unavailable(f"moppsd actor {name!r} (Ray namespace {namespace!r}) did not answer within {timeout:g} s") \
            from None
    except RayTaskError as e:  # the actor is alive, its moppsd is not
        raise _not_running(name, namespace, str(e.cause)) from None


class RayClient(Client):
    """A :class:`mopps.Client` of an actor's moppsd (made by :func:`client`).

    When a call gets no reply (or the server answers that it is shutting down) it asks the actor
    again: a dead actor (or server) raises :class:`mopps.Unavailable` naming the actor; an actor started again under the same name (new
    port, new server key) is followed and the call is sent there once more — Updates carry request
    ids, so one that did arrive the first time is not applied twice. Pickled (passed to a Ray
    task, say) it travels as the actor's name and the copy connects on its own, with its own keys.
    """

    def __init__(self, server: Server, **client_kwargs: Any) -> None:
        super().__init__(server.endpoint, server_key=server.server_key, publish_endpoint=server.publish_endpoint,
                         **client_kwargs)
        self.server = server

    def _request(self, method: str, body: bytes) -> Reply:
        unanswered = False
        try:
            reply = super()._request(method, body)
            if reply.code != StatusCode.UNAVAILABLE:
                return reply
            why = reply.message  # the server is shutting down: it did not handle the request
        except Unavailable as e:
            why, unanswered = e.message, True
        current = info(self.server.name, namespace=self.server.namespace, timeout=self.timeout)
        if (current.endpoint, current.server_key) == (self.server.endpoint, self.server.server_key):
            raise Unavailable(f"moppsd actor {self.server.name!r} ({self.server.endpoint}): {why}")
        self._follow(current)
        reply = super()._request(method, body)
        # An attempt that got no reply may have been handled (by a server on the same state dir).
        return dataclasses.replace(reply, retried=True) if unanswered else reply

    def __reduce__(self) -> Tuple[Callable[[str], RayClient], Tuple[str]]:
        return functools.partial(client, namespace=self.server.namespace, timeout=self.timeout,
                                 retries=self.retries), (self.server.name,)

    def _follow(self, server: Server) -> None:
        """Reconnects to ``server`` (the actor's new moppsd), keeping this client's key pair."""
        old = self._transport
        if old.curve is not None:
            public_key, secret_key = old.curve.public_key, old.curve.secret_key
        else:
            public_key, secret_key = (k.decode() for k in zmq.curve_keypair())
        curve = CurveKeys(server.server_key, public_key, secret_key) if server.server_key else None
        old.close()
        self._transport = Transport(server.endpoint, timeout=old.timeout, retries=old.retries, context=old.context,
                                    curve=curve)
        self.server, self.publish_endpoint = server, server.publish_endpoint


def client(name: str = "mopps", *, namespace: str = NAMESPACE, lookup_timeout: float = 30.0,
           **client_kwargs: Any) -> RayClient:
    """A connected client of the actor ``name``'s moppsd, from the driver or any Ray task or actor
    (one per process or thread; they are cheap). ``client_kwargs`` go to :class:`mopps.Client`
    (``timeout``, ``retries``, ``public_key``/``secret_key``; a fresh key pair by default).

    >>> @ray.remote                                                       # doctest: +SKIP
    ... def train_step(step):
    ...     c = mopps.ray.client("mopps")
    ...     batch = c.select("math", 256, candidates=np.arange(4096))
    ...     c.update("math", batch.ids, successes=rollout(batch.ids), rollouts=8, request_id=f"step-{step}")
    >>> ray.get(train_step.remote(0))                                     # doctest: +SKIP
    """
    return RayClient(info(name, namespace=namespace, timeout=lookup_timeout), **client_kwargs)


def _node_id(node: Optional[str]) -> str:
    """The id of the alive Ray node ``node`` (a node id or an IP address; None: the current node)."""
    if node is None:
        return str(ray.get_runtime_context().get_node_id())
    alive = [n for n in ray.nodes() if n.get("Alive")]
    matches = [n["NodeID"] for n in alive if node in (n["NodeID"], n.get("NodeManagerAddress"))]
    if len(matches) == 1:
        return str(matches[0])
    known = ", ".join(f"{n['NodeID'][:12]}… ({n.get('NodeManagerAddress')})" for n in alive)
    if not matches:
        raise LaunchError(f"no alive Ray node with id or address {node!r}; alive nodes: {known}")
    raise LaunchError(f"{len(matches)} Ray nodes have address {node!r}: give a node id ({known})")


def _free_port(address: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET) as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_unlocked(state_dir: str, deadline: float) -> None:
    """Waits until no moppsd holds ``state_dir``'s lock (a server of a killed actor stops within a
    second: --exit-with-parent polls five times a second)."""
    while state_dir_in_use(state_dir):
        if time.monotonic() > deadline:
            raise LaunchError(f"{state_dir} is still in use by another moppsd")
        time.sleep(0.05)


def _tail(path: str, offset: int) -> str:
    """The last lines moppsd wrote to its log since ``offset``."""
    with open(path, "rb") as f:
        f.seek(offset)
        return b"".join(f.readlines()[-20:]).decode(errors="replace").rstrip()


class _MoppsdActor:
    """The Ray actor behind :func:`start`: owns one moppsd subprocess."""

    def __init__(self, name: str, namespace: str, state_dir: Optional[str], insecure: bool, port: int,
                 publish_port: int, extra_args: Sequence[str], binary: Optional[str], timeout: float) -> None:
        address = ray.util.get_node_ip_address()
        state_dir = os.path.abspath(os.path.expanduser(state_dir or os.path.join("~", "mopps-state", name)))
        os.makedirs(state_dir, exist_ok=True)
        binary = binary or find_moppsd()
        self.log = os.path.join(tempfile.gettempdir(), f"moppsd-ray-{name}.log")
        deadline = time.monotonic() + timeout
        _wait_unlocked(state_dir, deadline)
        keys = tempfile.mkdtemp(prefix="mopps-ray-keys-")  # mode 700; moppsd reads the key at start
        try:
            server_key, security = self._security(binary, keys, insecure)
            for _ in range(1 if port else 5):
                ports = (port or _free_port(address), publish_port or _free_port(address))
                endpoint, publish = (f"tcp://{address}:{p}" if ":" not in address else f"tcp://[{address}]:{p}"
                                     for p in ports)
                args = [binary, "serve", "--state-dir", state_dir, "--listen", endpoint, "--publish", publish,
                        "--exit-with-parent", *security, *extra_args]
                # A file, not a pipe to this process: moppsd outlives a killed actor by up to 0.2 s
                # and would get SIGPIPE from its last log lines.
                log = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
                try:
                    self.log_offset = os.lseek(log, 0, os.SEEK_END)
                    popen = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
                finally:
                    os.close(log)
                self.process = Process(popen, endpoint, publish, state_dir)
                if self._wait_healthy(server_key, deadline):
                    break
                # Another process took a port between the probe and the bind: new ports, once more.
                if "Address already in use" not in _tail(self.log, self.log_offset):
                    break
            if popen.returncode is not None:
                raise LaunchError(f"moppsd exited with code {popen.returncode} during start-up: "
                                  f"{' '.join(args)}\n{_tail(self.log, self.log_offset)}")
        finally:
            shutil.rmtree(keys, ignore_errors=True)
        self.server = Server(name=name, namespace=namespace, node_id=ray.get_runtime_context().get_node_id(),
                             address=address, endpoint=endpoint, publish_endpoint=publish, server_key=server_key,
                             state_dir=state_dir, pid=popen.pid, log=self.log)

    @staticmethod
    def _security(binary: str, keys: str, insecure: bool) -> Tuple[Optional[str], List[str]]:
        """(server public key, serve flags): a new CURVE key pair, or plaintext when ``insecure``."""
        if insecure:
            return None, ["--insecure"]
        prefix = os.path.join(keys, "server")
        made = subprocess.run([binary, "keygen", "--out", prefix], capture_output=True, text=True)
        if made.returncode != 0:
            raise LaunchError(f"moppsd keygen failed ({made.returncode}): {made.stderr.strip()}")
        with open(prefix + ".pub") as f:
            return f.read().split()[0], ["--curve-secret-key", prefix + ".key"]

    def _wait_healthy(self, server_key: Optional[str], deadline: float) -> bool:
        """True once moppsd answers Health; False when it exited; LaunchError past the deadline."""
        with Client(self.process.listen, timeout=0.2, retries=0, server_key=server_key) as probe:
            while self.process.popen.poll() is None:
                try:
                    probe.health()
                    return True
                except Unavailable:
                    if time.monotonic() > deadline:
                        self.process.stop()
                        raise LaunchError(f"moppsd did not answer Health on {self.process.listen}") from None
        return False

    def info(self) -> Server:
        code = self.process.popen.poll()
        if code is not None:
            raise LaunchError(f"its moppsd exited with code {code}; its log: {self.log}")
        return self.server

    def shutdown(self, timeout: float = 10.0) -> int:
        """Stops moppsd (SIGTERM, waits up to ``timeout`` s, then SIGKILL); returns its exit code."""
        return self.process.stop(timeout)


_Actor = ray.remote(_MoppsdActor)


def start(
    name: str = "mopps",
    *,
    node: Optional[str] = None,
    state_dir: Optional[str] = None,
    insecure: bool = False,
    port: int = 0,
    publish_port: int = 0,
    namespace: str = NAMESPACE,
    num_cpus: float = 0,
    extra_args: Sequence[str] = (),
    binary: Optional[str] = None,
    timeout: float = 60.0,
) -> Server:
    """Starts moppsd in a named, detached Ray actor on ``node`` (a node id or IP; default: the
    node of the caller) and returns its :class:`Server` once it answers.

    The server listens on ``tcp://<node address>:<port>`` (free ports by default) and publishes
    events on ``publish_port``, encrypted with a CURVE key pair the actor makes (plaintext only
    with ``insecure=True``). ``state_dir`` is a folder on that node (default
    ``~/mopps-state/<name>``): start the actor again on the same node and folder and it resumes
    with every acknowledged update. ``binary``: moppsd on that node (default: ``$MOPPSD`` of the
    Ray worker, then PATH, then this repository's build). ``extra_args`` go to ``moppsd serve``
    (e.g. ``["--fsync", "always"]``). ``timeout``: seconds for moppsd to answer once the actor
    runs (starting the Ray worker may take up to 30 s more). The actor takes ``num_cpus`` of Ray's CPUs (0: it does not
    hold back trainer tasks) and lives until :func:`stop` or ``ray.kill``, beyond the driver.

    >>> server = mopps.ray.start("mopps", node="10.0.0.5", state_dir="/data/mopps-state")  # doctest: +SKIP
    """
    try:
        ray.get_actor(name, namespace=namespace)
    except ValueError:
        pass
    else:
        raise LaunchError(f"a Ray actor {name!r} already exists in namespace {namespace!r}: "
                          f"use mopps.ray.client({name!r}), or mopps.ray.stop({name!r}) first")
    try:
        actor = _Actor.options(
            name=name, namespace=namespace, lifetime="detached", num_cpus=num_cpus, max_restarts=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(_node_id(node), soft=False),
        ).remote(name, namespace, state_dir, insecure, port, publish_port, list(extra_args), binary, timeout)
    except ValueError as e:  # the name was taken meanwhile
        raise LaunchError(f"moppsd actor {name!r}: {e}") from None
    try:
        server: Server = ray.get(actor.info.remote(), timeout=timeout + 30)
        return server
    except RayActorError as e:  # __init__ raised: Ray's message holds its traceback, then our error
        text = str(e)
        cause = text.rfind("LaunchError: ")
        raise LaunchError(f"moppsd actor {name!r} did not start: "
                          f"{text[cause + len('LaunchError: '):] if cause >= 0 else text}") from None
    except GetTimeoutError:
        ray.kill(actor)
        raise LaunchError(f"moppsd actor {name!r} did not start within {timeout + 30:g} s") from None


def stop(name: str = "mopps", *, namespace: str = NAMESPACE, timeout: float = 10.0) -> bool:
    """Stops the actor's moppsd (SIGTERM; it answers the requests in hand and exits), waits for it,
    then kills the actor and waits until its name is free. False when there was no such actor.

    >>> mopps.ray.stop("mopps")                                           # doctest: +SKIP
    True
    """
    try:
        actor = ray.get_actor(name, namespace=namespace)
    except ValueError:
        return False
    try:
        ray.get(actor.shutdown.remote(timeout), timeout=timeout + 5)
    except (RayActorError, GetTimeoutError):
        pass  # already dead or stuck: killing the actor stops moppsd too (--exit-with-parent)
    ray.kill(actor)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            break
        time.sleep(0.05)
    return True
