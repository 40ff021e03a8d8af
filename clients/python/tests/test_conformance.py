"""Every client language runs the same conformance program against one moppsd and prints the same bytes.

The Makefile builds the other languages' programs and names them here (this test builds nothing):
MOPPS_CONFORMANCE_C, _CPP, _RUST, _SWIFT. A variable that is set must name an executable, and with
MOPPS_CONFORMANCE_ALL=1 (what `make test` sets) every one of them must be set.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from mopps.conformance import format_float32

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


def run(argv, endpoint, pool, seed=SEED):
    out = subprocess.run(
        argv + ["--endpoint", endpoint, "--pool", pool, "--seed", str(seed), "--prompts", str(PROMPTS),
                "--batch", str(BATCH), "--steps", str(STEPS)],
        capture_output=True, timeout=120)
    assert out.returncode == 0 and out.stderr == b"", (argv, out.returncode, out.stderr.decode())
    return out.stdout


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
        out = subprocess.run(argv + ["--format-float32"], input=feed, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        got = out.stdout.splitlines()
        assert len(got) == len(want), f"{lang}: {len(got)} lines for {len(want)} values"
        bad = [(float(v), g, w) for v, g, w in zip(values, got, want) if g != w]
        assert not bad, f"{lang} formats {len(bad)} values differently, e.g. {bad[:3]}"
