"""Fuzzes the contents of a state directory against real server starts.

A baseline directory (two pools, updates, two full snapshots, tags) is damaged at random — bits
flipped, files cut, emptied, deleted, duplicated, replaced by a FIFO, a symbolic link, a directory or
garbage — and a server is started on each copy. Every start must end one of two ways within its time
limit: the server serves (Health, ListPools, Get of every pool, ListSnapshots and Restore of every tag
answer, each promptly), or it exits 1 with a message naming what it cannot recover and leaves the
directory as it found it. Never a hang, never a crash by signal.

`make test` runs a few dozen cases; `make fuzz-state` runs MOPPS_FUZZ_STATE_CASES (default 400).
"""

import hashlib
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import mopps

CASES = int(os.environ.get("MOPPS_FUZZ_STATE_CASES", "30"))
SEED = int(os.environ.get("MOPPS_FUZZ_STATE_SEED", "20261202"))


def _baseline(path):
    process = mopps.start(state_dir=str(path), extra_args=["--snapshot-every", "1000000"],
                          stderr=subprocess.DEVNULL)
    try:
        with mopps.Client(process.listen) as c:
            c.create_pool("a", seed=1, decay=0.8)
            c.create_pool("b", seed=2)
            c.register("a", np.arange(300))
            for step in range(12):
                sel = c.select("a", 8, candidate_count=32)
                c.update("a", sel.ids, (sel.ids % 3).astype(float), rollouts=2, request_id=f"a{step}")
                c.update("b", [step, step + 100], [1, 0], rollouts=1)
                if step == 4:
                    c.snapshot()
                    c.snapshot("a", "step-4")
                if step == 8:
                    c.snapshot()
                    c.snapshot("b", "step-8")
    finally:
        assert process.stop() == 0


def _listing(root):
    """(relative path, kind, digest) of everything under root, links not followed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            if p.is_symlink():
                out.append((rel, "link", os.readlink(p)))
            elif p.is_fifo():
                out.append((rel, "fifo", ""))
            elif p.is_file():
                out.append((rel, "file", hashlib.sha256(p.read_bytes()).hexdigest()))
            elif p.is_dir():
                out.append((rel, "dir", ""))
    return sorted(out)


def _damage(root, rng):
    """One to three random kinds of damage to the files of a state directory; returns what was done."""
    done = []
    files = [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and p.suffix != ".sock"]
    for _ in range(rng.randint(1, 3)):
        if not files:
            break
        victim = rng.choice(files)
        kind = rng.choice(["flip", "flip", "cut", "empty", "delete", "fifo", "link-out", "link-loop", "dir",
                           "garbage", "copy-over", "extra"])
        data = victim.read_bytes() if victim.exists() and victim.is_file() else b""
        if kind == "flip" and data:
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            victim.write_bytes(bytes(b))
        elif kind == "cut" and data:
            victim.write_bytes(data[: rng.randrange(len(data))])
        elif kind == "empty":
            victim.write_bytes(b"")
        elif kind in ("delete", "fifo", "link-out", "link-loop", "dir"):
            victim.unlink(missing_ok=True)
            if kind == "fifo":
                os.mkfifo(victim)
            elif kind == "link-out":
                os.symlink("/dev/zero" if rng.random() < 0.5 else "/etc/hostname", victim)
            elif kind == "link-loop":
                os.symlink(victim.name, victim)
            elif kind == "dir":
                victim.mkdir()
            files.remove(victim)
        elif kind == "garbage":
            victim.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))))
        elif kind == "copy-over":
            other = rng.choice(files)
            if other.exists() and other.is_file():
                victim.write_bytes(other.read_bytes())
        elif kind == "extra":
            target = victim.parent / rng.choice(["state-ffffffffffffffff.snap", "wal-0000000000000fff.log",
                                                 "zz.snap", "x.tmp"])
            target.write_bytes(data[: rng.randrange(len(data) + 1)] if data else b"MOPPS")
        done.append(f"{kind} {victim.relative_to(root)}")
    return done


def _serve_and_probe(state, log_path, tmp):
    """Starts a server on `state`; returns ("served", None) or ("refused", exit code, text)."""
    sock = f"ipc://{tmp}/fz.sock"
    with open(log_path, "w") as log:
        popen = subprocess.Popen(
            [os.environ["MOPPSD"], "serve", "--state-dir", str(state), "--listen", sock, "--publish",
             f"ipc://{tmp}/fz-ev.sock", "--snapshot-every", "1000000"], stderr=log)
    try:
        deadline = time.monotonic() + 20
        with mopps.Client(sock, timeout=2.0, retries=0) as c:
            while True:
                if popen.poll() is not None:
                    return ("refused", popen.returncode, Path(log_path).read_text())
                try:
                    c.health()
                    break
                except mopps.Unavailable:
                    if time.monotonic() > deadline:
                        pytest.fail("server neither served nor exited within 20 s")
        with mopps.Client(sock, timeout=5.0, retries=0) as c:
            for pool in c.list_pools():
                c.get(pool.name)
            for snap in c.list_snapshots():
                if snap.pool:
                    try:
                        c.restore(snap.pool, snap.tag)
                    except mopps.RpcError as e:
                        assert e.code in ("DATA_LOSS", "NOT_FOUND", "INVALID_ARGUMENT"), e
            for name in ("a", "b"):
                for tag in ("step-4", "step-8"):
                    try:
                        c.restore(name, tag)
                    except mopps.RpcError as e:
                        assert e.code in ("DATA_LOSS", "NOT_FOUND"), e
            assert c.health()
        return ("served", None, "")
    finally:
        if popen.poll() is None:
            popen.send_signal(signal.SIGTERM)
            try:
                code = popen.wait(15)
            except subprocess.TimeoutExpired:
                popen.kill()
                pytest.fail("server did not stop within 15 s of SIGTERM")
            assert code == 0, Path(log_path).read_text()


def test_damaged_state_directories_never_hang_or_crash_the_server(tmp_path):
    base = tmp_path / "base"
    _baseline(base)
    rng = random.Random(SEED)
    outcomes = {"served": 0, "refused": 0}
    for case in range(CASES):
        state = tmp_path / f"c{case}"
        shutil.copytree(base, state, symlinks=True, ignore=shutil.ignore_patterns("*.sock"))
        what = _damage(state, rng)
        before = _listing(state)
        kind, code, text = _serve_and_probe(state, tmp_path / f"c{case}.log", tmp_path)
        outcomes[kind] += 1
        if kind == "refused":
            assert code == 1, (what, code, text)  # an exit, not a signal
            assert "cannot" in text, (what, text)
            assert _listing(state) == before, (what, "a refused start changed the directory")
        shutil.rmtree(state, ignore_errors=True)
    print(f"state fuzz: {CASES} cases (seed {SEED}): {outcomes}")
    assert outcomes["served"] > 0
