"""Every client language runs the same conformance program against one moppsd and prints the same bytes.

The Makefile builds the other languages' programs and names them here (this test builds nothing):
MOPPS_CONFORMANCE_C, _CPP, _RUST, _SWIFT. A variable that is set must name an executable, and with
MOPPS_CONFORMANCE_ALL=1 (what `make test` sets) every one of them must be set.
"""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import zmq

import mopps
from mopps.conformance import format_float32
from mopps.v1 import selector_pb2 as pb

LANGUAGES = ("C", "CPP", "RUST", "SWIFT")
SEED, PROMPTS, BATCH, STEPS = 11, 200, 8, 12


def programs():
    found = {}
    for lang in LANGUAGES:
        path = os.environ.get(f"MOPPS_CONFORMANCE_{lang}")
        if not path:
            if os.environ.get("MOPPS_CONFORMANCE_ALL") == "1":
                pytest.fail(f"MOPPS_CONFORMANCE_{lang} is not set (MOPPS_CONFORMANCE_ALL=1 wants every language)")
            continue
        if not os.access(path, os.X_OK):
            pytest.fail(f"MOPPS_CONFORMANCE_{lang}={path} is not an executable: build it (`make test` does)")
        found[lang] = [path]
    return found


def run(argv, endpoint, pool, seed=SEED, extra=()):
    out = subprocess.run(
        argv + ["--endpoint", endpoint, "--pool", pool, "--seed", str(seed), "--prompts", str(PROMPTS),
                "--batch", str(BATCH), "--steps", str(STEPS), *extra],
        capture_output=True, timeout=120, env=PYTHON_ENV)
    assert out.returncode == 0 and out.stderr == b"", (argv, out.returncode, out.stderr.decode())
    return out.stdout


# `python -m mopps.conformance` finds this checkout's package whether or not mopps is installed.
PYTHON_ENV = dict(os.environ, PYTHONPATH=os.pathsep.join(
    [str(Path(__file__).resolve().parents[1])] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))


def python_program():
    return [sys.executable, "-m", "mopps.conformance"]


def expected_tail(steps):
    """The posterior lines recomputed from the printed batches with α ← λ(α − α0) + α0 + s."""
    lines = []
    for i in range(min(PROMPTS, 5)):
        a = b = 1.0
        for t, ids in enumerate(steps):
            if i in ids:
                s = (7 * i + t) % 9
                a = 0.5 * (a - 1) + 1 + s
                b = 0.5 * (b - 1) + 1 + (8 - s)
        lines.append(f"posterior {i}: {format_float32(a)} {format_float32(b)}")
    return lines + ["invalid batch_size 0: INVALID_ARGUMENT", "invalid successes 9 of 8: INVALID_ARGUMENT",
                    "invalid unknown pool: NOT_FOUND"]


def test_python_output_follows_the_program(server):
    lines = run(python_program(), server.listen, "conf-python-alone").decode().splitlines()
    steps = []
    for t, line in enumerate(lines[:STEPS]):
        head, _, ids = line.partition(": ")
        assert head == f"step {t}"
        chosen = [int(x) for x in ids.split()]
        assert len(chosen) == BATCH == len(set(chosen)) and all(0 <= i < PROMPTS for i in chosen)
        steps.append(chosen)
    assert lines[STEPS:] == expected_tail(steps)
    # Another seed draws other batches: the byte comparison below is not between constant outputs.
    other = run(python_program(), server.listen, "conf-python-seed", seed=SEED + 1).decode().splitlines()
    assert other[:STEPS] != lines[:STEPS]


def test_every_language_prints_the_same_bytes(server):
    others = programs()
    reference = run(python_program(), server.listen, "conf-python")
    for lang, argv in others.items():
        got = run(argv, server.listen, f"conf-{lang.lower()}")
        assert got == reference, f"{lang} differs from Python:\n{got.decode()}\n--- Python:\n{reference.decode()}"


def test_every_language_formats_floats_by_the_same_rule():
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2**32, 20000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    dyadic = (rng.integers(0, 2**22, 20000) / 2.0 ** rng.integers(0, 24, 20000)).astype(np.float32)
    values = np.concatenate([bits[np.isfinite(bits)], dyadic, np.float32([0.3, 1, 4.5, 1024, 1e-7, 3e9])])
    want = [format_float32(v) for v in values]
    feed = "".join(f"{float(v)!r}\n" for v in values)  # exactly the float32 value, parsed back to it
    for lang, argv in programs().items():
        out = subprocess.run(argv + ["--format-float32"], input=feed, capture_output=True, text=True, timeout=60,
                             env=PYTHON_ENV)
        assert out.returncode == 0, out.stderr
        got = out.stdout.splitlines()
        assert len(got) == len(want), f"{lang}: {len(got)} lines for {len(want)} values"
        bad = [(float(v), g, w) for v, g, w in zip(values, got, want) if g != w]
        assert not bad, f"{lang} formats {len(bad)} values differently, e.g. {bad[:3]}"


class DropFirstUpdateReply:
    """Relays requests to moppsd but drops the reply of the first CreatePool and of the first Update:
    the client times out and must resend on a fresh socket; the server must count that Update once
    (same request id), and the resent CreatePool's ALREADY_EXISTS must count as the success it is."""

    def __init__(self, upstream, endpoint):
        self.upstream, self.endpoint = upstream, endpoint
        self.dropped = False
        self.create_dropped = False
        self.updates = 0
        self.resend = None  # (same bytes as the dropped request, server reported it a duplicate)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()
        assert self._ready.wait(5)

    def _relay(self):
        ctx = zmq.Context.instance()
        front, back = ctx.socket(zmq.ROUTER), ctx.socket(zmq.REQ)
        front.setsockopt(zmq.LINGER, 0)
        back.setsockopt(zmq.LINGER, 0)
        front.bind(self.endpoint)
        back.connect(self.upstream)
        self._ready.set()
        try:
            while not self._stop.is_set():
                if not front.poll(50):
                    continue
                peer, empty, *request = front.recv_multipart()
                back.send_multipart(request)
                reply = back.recv_multipart()
                if request[0].endswith(b"/CreatePool") and not self.create_dropped:
                    self.create_dropped = True
                    continue
                if request[0].endswith(b"/Update"):
                    self.updates += 1
                    if not self.dropped:
                        self.dropped = request
                        continue
                    if self.resend is None:
                        answer = pb.UpdateResponse.FromString(reply[1])
                        self.resend = (request == self.dropped, answer.duplicate)
                front.send_multipart([peer, empty, *reply])
        finally:
            front.close()
            back.close()

    def close(self):
        self._stop.set()
        self._thread.join(5)


def test_every_language_applies_retried_requests_once(server, tmp_path):
    reference = run(python_program(), server.listen, "lossy-reference")
    for lang, argv in {"PYTHON": python_program(), **programs()}.items():
        relay = DropFirstUpdateReply(server.listen, f"ipc://{tmp_path}/relay-{lang.lower()}.sock")
        try:
            got = run(argv, relay.endpoint, f"lossy-{lang.lower()}", extra=["--timeout-ms", "400"])
        finally:
            relay.close()
        assert relay.create_dropped and relay.dropped
        assert relay.updates == STEPS + 2, (lang, relay.updates)  # + the resend, + 9-of-8
        assert relay.resend == (True, True), f"{lang}: the resent Update (same bytes, duplicate): {relay.resend}"
        assert got == reference, f"{lang}: a lost Update reply changed the outcome:\n{got.decode()}"


def test_every_language_speaks_curve(server, tmp_path):
    reference = run(python_program(), server.listen, "curve-reference")
    # Z85 keys may start with "-", which the conformance programs' option parsers would take for
    # an option: draw until the public key (passed as an argument) does not.
    server_pub = "-"
    while server_pub.startswith("-"):
        server_pub, server_sec = (k.decode() for k in zmq.curve_keypair())
    key = tmp_path / "server.key"
    key.write_text(server_sec + "\n")
    key.chmod(0o600)
    endpoint = f"ipc://{tmp_path}/curve.sock"
    log = open(tmp_path / "curve.log", "w")
    proc = subprocess.Popen(
        [mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "curve-state"), "--listen", endpoint,
         "--publish", f"ipc://{tmp_path}/curve-ev.sock", "--curve-secret-key", str(key)], stderr=log)
    try:
        with mopps.Client(endpoint, timeout=5, server_key=server_pub) as c:
            assert c.health() == "SERVING"
        for lang, argv in {"PYTHON": python_program(), **programs()}.items():
            got = run(argv, endpoint, f"curve-{lang.lower()}", extra=["--server-key", server_pub])
            assert got == reference, f"{lang} over CURVE:\n{got.decode()}"
        # Without the server's key nothing gets through: the CURVE path above was really taken.
        plain = subprocess.run(python_program() + ["--endpoint", endpoint, "--pool", "plain", "--seed", "1",
                                                   "--prompts", "4", "--batch", "1", "--steps", "1",
                                                   "--timeout-ms", "300"], capture_output=True, timeout=60,
                               env=PYTHON_ENV)
        assert plain.returncode != 0 and b"UNAVAILABLE" in plain.stderr
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
