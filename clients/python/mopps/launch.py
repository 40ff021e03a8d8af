"""Starting a moppsd process from Python (tests, demos, single-machine trainers)."""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Any, List, Optional, Union

from ._bundled import bundled_moppsd
from .client import Client
from .errors import LaunchError, Unavailable


def find_moppsd() -> str:
    """The moppsd binary: ``$MOPPSD``, else the one a wheel carries, else ``moppsd`` on PATH, else this
    repository's build folder.

    >>> find_moppsd()                                                  # doctest: +SKIP
    '/usr/local/bin/moppsd'
    """
    env = os.environ.get("MOPPSD")
    if env:
        if not os.access(env, os.X_OK):
            raise LaunchError(f"MOPPSD={env} is not an executable file")
        return env
    bundled = bundled_moppsd()
    if bundled:
        return bundled
    on_path = shutil.which("moppsd")
    if on_path:
        return on_path
    repo = Path(__file__).resolve().parents[3]
    for config in ("release", "debug"):
        candidate = repo / ".build" / config / "moppsd"
        if os.access(candidate, os.X_OK):
            return str(candidate)
    raise LaunchError(
        "moppsd not found: install the wheel that carries it (`make wheel`, then pip install "
        "dist/mopps-*.whl), or build it (`make build`) and set MOPPSD=/path/to/moppsd or put it on PATH")


def state_dir_in_use(state_dir: Union[str, "os.PathLike[str]"]) -> bool:
    """Whether a moppsd serves ``state_dir`` now: a running server holds the flock on the folder
    (released however it exits, also when killed).

    >>> state_dir_in_use("/tmp/mopps-state")                        # doctest: +SKIP
    False
    """
    import fcntl

    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops a lock taken here


@functools.lru_cache(maxsize=None)
def _serve_flags(binary: str) -> str:
    """``moppsd serve --help`` of this binary (to pass newer flags only to servers that know them)."""
    try:
        return subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


class Process:
    """A running moppsd: its endpoints, and a stop that waits for a clean exit."""

    def __init__(self, popen: subprocess.Popen[bytes], listen: str, publish: str, state_dir: str,
                 remove_state_dir: bool = False) -> None:
        self.popen = popen
        self.listen = listen
        self.publish = publish
        self.state_dir = state_dir
        #: The state dir is a temporary folder made by :func:`start`: removed after a clean stop.
        self.remove_state_dir = remove_state_dir

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then wait; SIGKILL if it does not exit within ``timeout``. Returns the exit code.
        A temporary state dir made by :func:`start` is removed when the server exited cleanly (0)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        if self.remove_state_dir and self.popen.returncode == 0:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.remove_state_dir = False
        return self.popen.returncode


def start(
    state_dir: Optional[str] = None,
    listen: Optional[str] = None,
    publish: Optional[str] = None,
    extra_args: Optional[List[str]] = None,
    binary: Optional[str] = None,
    timeout: float = 10.0,
    stderr: Union[int, IO[Any], None] = None,
    exit_with_parent: bool = True,
) -> Process:
    """Starts moppsd on ipc endpoints inside ``state_dir`` (a new temporary folder by default,
    removed again after a clean stop) and waits until it answers Health. With
    ``exit_with_parent`` (default) the server gets ``--exit-with-parent`` (when the binary knows
    the flag), so it does not outlive this process even when it is killed.

    >>> process = start(state_dir="/tmp/mopps-state")                  # doctest: +SKIP
    >>> client = Client(process.listen); ...; process.stop()          # doctest: +SKIP
    0
    """
    temporary = state_dir is None
    state_dir = state_dir or tempfile.mkdtemp(prefix="mopps-")
    os.makedirs(state_dir, exist_ok=True)
    listen = listen or f"ipc://{state_dir}/moppsd.sock"
    publish = publish or f"ipc://{state_dir}/events.sock"
    binary = binary or find_moppsd()
    args = [binary, "serve", "--state-dir", state_dir, "--listen", listen, "--publish", publish]
    if exit_with_parent and "--exit-with-parent" in _serve_flags(binary):
        args.append("--exit-with-parent")
    popen = subprocess.Popen(args + list(extra_args or []), stdin=subprocess.DEVNULL, stderr=stderr)
    process = Process(popen, listen, publish, state_dir, remove_state_dir=temporary)
    deadline = time.monotonic() + timeout
    with Client(listen, timeout=0.2, retries=0) as probe:
        while True:
            if popen.poll() is not None:
                raise LaunchError(f"moppsd exited with code {popen.returncode} during start-up: {' '.join(args)}")
            try:
                probe.health()
                return process
            except Unavailable:
                if time.monotonic() > deadline:
                    process.stop()
                    raise LaunchError(f"moppsd did not answer Health within {timeout:g} s on {listen}")


def launch(
    state_dir: Optional[str] = None,
    listen: Optional[str] = None,
    publish: Optional[str] = None,
    extra_args: Optional[List[str]] = None,
    timeout: float = 5.0,
) -> Client:
    """Starts a moppsd owned by the returned :class:`Client`: ``client.close()`` (or leaving a
    ``with`` block, or the client being garbage-collected, or the interpreter exiting) stops it.
    The server runs with ``--exit-with-parent``; its state is in ``state_dir`` (a temporary folder,
    removed after a clean stop, by default). The process is ``client.process``.

    >>> with launch() as client:      # doctest: +SKIP
    ...     client.create_pool("math")
    >>> client = launch()  # stopped by client.close() or at exit   # doctest: +SKIP
    """
    process = start(state_dir=state_dir, listen=listen, publish=publish, extra_args=extra_args)
    try:
        client = Client(process.listen, timeout=timeout, publish_endpoint=process.publish)
    except BaseException:
        process.stop()
        raise
    client._own(process)
    return client


def connect(endpoint: Optional[str] = None, *, state_dir: Optional[str] = None, timeout: float = 5.0) -> Client:
    """A client of ``endpoint``, or, when it is None, of a private moppsd started for this process
    (:func:`launch`; stopped when the client closes). The one way the plug-ins get their server.

    >>> client = connect(os.environ.get("MOPPS_ENDPOINT"))   # doctest: +SKIP
    """
    if endpoint is None:
        return launch(state_dir=state_dir, timeout=timeout)
    return Client(str(endpoint), timeout=timeout)
