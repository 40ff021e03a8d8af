"""Starting a moppsd process from Python (tests, demos, single-machine trainers)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator, List, Optional

from ._bundled import bundled_moppsd
from .client import Client
from .errors import LaunchError, Unavailable


def find_moppsd() -> str:
    """The moppsd binary: ``$MOPPSD``, else the one a wheel carries, else ``moppsd`` on PATH, else this
    repository's build folder."""
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


class Process:
    """A running moppsd: its endpoints, and a stop that waits for a clean exit."""

    def __init__(self, popen: subprocess.Popen, listen: str, publish: str, state_dir: str):
        self.popen = popen
        self.listen = listen
        self.publish = publish
        self.state_dir = state_dir

    def stop(self, timeout: float = 5.0) -> int:
        """SIGTERM, then wait; SIGKILL if it does not exit within ``timeout``. Returns the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode


def start(
    state_dir: Optional[str] = None,
    listen: Optional[str] = None,
    publish: Optional[str] = None,
    extra_args: Optional[List[str]] = None,
    binary: Optional[str] = None,
    timeout: float = 10.0,
    stderr=None,
) -> Process:
    """Starts moppsd on ipc endpoints inside ``state_dir`` (a new temporary folder by default) and
    waits until it answers Health."""
    state_dir = state_dir or tempfile.mkdtemp(prefix="mopps-")
    os.makedirs(state_dir, exist_ok=True)
    listen = listen or f"ipc://{state_dir}/moppsd.sock"
    publish = publish or f"ipc://{state_dir}/events.sock"
    args = [binary or find_moppsd(), "serve", "--state-dir", state_dir, "--listen", listen, "--publish", publish]
    popen = subprocess.Popen(args + list(extra_args or []), stdin=subprocess.DEVNULL, stderr=stderr)
    process = Process(popen, listen, publish, state_dir)
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


@contextlib.contextmanager
def launch(
    state_dir: Optional[str] = None,
    listen: Optional[str] = None,
    publish: Optional[str] = None,
    extra_args: Optional[List[str]] = None,
    timeout: float = 5.0,
) -> Iterator[Client]:
    """Starts moppsd, yields a connected :class:`Client`, and stops the server on exit (also when
    the body raises). The process is reachable as ``client.process``.

    >>> with launch() as client:      # doctest: +SKIP
    ...     client.create_pool("math")
    """
    process = start(state_dir=state_dir, listen=listen, publish=publish, extra_args=extra_args)
    try:
        with Client(process.listen, timeout=timeout, publish_endpoint=process.publish) as client:
            client.process = process  # type: ignore[attr-defined]
            yield client
    finally:
        process.stop()
