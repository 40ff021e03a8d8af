"""Durable state with real processes and real files: restarts, kill -9, damaged logs and snapshots,
tags, retried updates."""

import json
import os
import subprocess
import random
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mopps
import mopps.reference


def start(state, *args, log=None):
    log = open(log or (Path(state).parent / f"{Path(state).name}.log"), "a")
    process = mopps.start(state_dir=str(state), extra_args=list(args), stderr=log)
    process.log_path = log.name  # type: ignore[attr-defined]
    log.close()
    return process


def restart_and_check(state, check):
    """Starts a server on `state`, runs check(client), stops it cleanly; returns the process."""
    proc = start(state)
    try:
        with mopps.Client(proc.listen) as c:
            check(c)
    finally:
        assert proc.stop() == 0
    return proc


def snapshot_of(client, pool):
    p = client.get(pool)
    order = np.argsort(p.ids)
    return p.ids[order].tolist(), p.alpha[order].tolist(), p.beta[order].tolist()


def test_restart_recovers_everything(tmp_path):
    state = tmp_path / "s"
    proc = start(state)
    with mopps.Client(proc.listen) as c:
        c.create_pool("a", decay=0.7, seed=3)
        c.create_pool("b", strategy="threshold", seed=4)
        c.register("a", np.arange(100))
        for step in range(20):
            sel = c.select("a", 8, candidate_count=32)
            c.update("a", sel.ids, (sel.ids % 3).astype(float), rollouts=2, request_id=f"s{step}")
        c.update("b", [5, 6], [0.5, 1.5], rollouts=2)
        c.drop_pool("b")
        c.create_pool("b", seed=9)
        before = (
            snapshot_of(c, "a"), snapshot_of(c, "b"),
            [(p.name, p.update_count, p.select_count, p.seed) for p in c.list_pools()],
        )
    assert proc.stop() == 0
    proc = start(state)
    try:
        with mopps.Client(proc.listen) as c:
            after = (
                snapshot_of(c, "a"), snapshot_of(c, "b"),
                [(p.name, p.update_count, p.select_count, p.seed) for p in c.list_pools()],
            )
            assert after == before
            assert [p.select_count for p in c.list_pools()] == [20, 0]
            # A retry of an Update from before the restart still applies once…
            assert c.update("a", sel.ids, (sel.ids % 3).astype(float), rollouts=2, request_id="s19").duplicate
            # …and the same id with other content is refused, naming request_id, changing nothing.
            with pytest.raises(mopps.RpcError) as err:
                c.update("a", [1], [1], rollouts=1, request_id="s19")
            assert err.value.code == "FAILED_PRECONDITION" and "request_id" in str(err.value)
            assert snapshot_of(c, "a") == before[0]
    finally:
        assert proc.stop() == 0
    assert "recovered 2 pools" in Path(proc.log_path).read_text()


@pytest.mark.parametrize("round_", range(3))
def test_kill_9_loses_no_acknowledged_update(tmp_path, round_):
    """A client streams updates (each to a fresh prompt id) with --fsync always and records which
    were acknowledged; the server is killed with SIGKILL at a random moment; after a restart every
    acknowledged update is there."""
    state = tmp_path / "s"
    proc = start(state, "--fsync", "always")
    acked = []
    errors = []
    with mopps.Client(proc.listen) as c:
        c.create_pool("p", seed=1)

    def stream():
        with mopps.Client(proc.listen, timeout=1.0) as c:
            i = 0
            while True:
                try:
                    c.update("p", [i], [1], rollouts=2, request_id=f"u{i}")
                except mopps.Unavailable:
                    return
                except Exception as e:  # pragma: no cover - reported below
                    errors.append(e)
                    return
                acked.append(i)
                i += 1

    thread = threading.Thread(target=stream)
    thread.start()
    time.sleep(random.Random(round_).uniform(0.3, 0.8))
    proc.popen.send_signal(signal.SIGKILL)
    proc.popen.wait()
    thread.join()
    assert not errors and len(acked) > 10
    proc = start(state)
    try:
        with mopps.Client(proc.listen) as c:
            got = c.get("p", acked)
            assert got.known.all(), f"{(~got.known).sum()} of {len(acked)} acknowledged updates lost"
            assert np.all(got.alpha == 2) and np.all(got.beta == 2)
            # At most the one in flight when killed was applied without an acknowledgement.
            assert c.list_pools()[0].prompt_count in (len(acked), len(acked) + 1)
    finally:
        assert proc.stop() == 0


def _build_log(state, n=60):
    """n updates, update j writing prompt j (s=1 of 2), no snapshot: the log has n + 1 records."""
    proc = start(state, "--snapshot-every", "1000000")
    with mopps.Client(proc.listen) as c:
        c.create_pool("p", seed=1)
        for j in range(n):
            c.update("p", [j], [1], rollouts=2)
    assert proc.stop() == 0
    (wal,) = [f for f in (Path(state) / "wal").iterdir() if f.suffix == ".log" and f.stat().st_size > 20]
    return wal


def _recovered_prefix(state, log):
    proc = start(state, log=log)
    try:
        with mopps.Client(proc.listen) as c:
            pools = c.list_pools()
            if not pools:
                return -1
            p = c.get("p")
            k = len(p.ids)
            assert sorted(p.ids.tolist()) == list(range(k)), "recovered state is not a prefix of the log"
            assert np.all(p.alpha == 2) and np.all(p.beta == 2)
            return k
    finally:
        assert proc.stop() == 0


def _record_ends(path):
    """Byte offsets where each log record ends (header: 20 bytes; frame: length u32, crc u32)."""
    data = path.read_bytes()
    ends, offset = [], 20
    while offset + 8 <= len(data):
        length = int.from_bytes(data[offset:offset + 4], "little")
        offset += 8 + length
        ends.append(offset)
    return ends


def test_truncated_and_corrupted_logs_recover_the_longest_valid_prefix(tmp_path):
    base = tmp_path / "base"
    wal = _build_log(base)
    size = wal.stat().st_size
    ends = _record_ends(wal)
    assert len(ends) == 61 and ends[-1] == size  # CreatePool + 60 updates
    rng = random.Random(7)
    for trial, offset in enumerate(sorted(rng.sample(range(20, size), 8)) + [ends[30], size]):
        state = tmp_path / f"t{trial}"
        shutil.copytree(base, state, ignore=shutil.ignore_patterns("*.sock"))
        os.truncate(state / "wal" / wal.name, offset)
        k = _recovered_prefix(state, tmp_path / f"t{trial}.log")
        complete = sum(1 for e in ends if e <= offset)  # records wholly before the cut
        assert k == complete - 1, (offset, k, complete)  # record 0 creates the pool
        report = (tmp_path / f"t{trial}.log").read_text()
        assert ("truncated the log" in report) == (offset not in ends and offset > 20), report
    for trial in range(8):
        state = tmp_path / f"f{trial}"
        shutil.copytree(base, state, ignore=shutil.ignore_patterns("*.sock"))
        path = state / "wal" / wal.name
        data = bytearray(path.read_bytes())
        pos = rng.randrange(20, len(data))
        data[pos] ^= 1 << rng.randrange(8)
        path.write_bytes(bytes(data))
        k = _recovered_prefix(state, tmp_path / f"f{trial}.log")
        assert k < 60, "a flipped bit went unnoticed"
        assert "truncated the log" in (tmp_path / f"f{trial}.log").read_text()


def test_damaged_snapshot_falls_back_to_the_previous_one(tmp_path):
    state = tmp_path / "s"
    proc = start(state, "--snapshot-every", "1000000")
    with mopps.Client(proc.listen) as c:
        c.create_pool("p", seed=1)
        c.update("p", [1, 2], [1, 0], rollouts=1)
        first = c.snapshot()
        c.update("p", [3], [1], rollouts=1)
        second = c.snapshot()
        c.update("p", [4], [1], rollouts=1)
        expected = snapshot_of(c, "p")
    assert proc.stop() == 0
    assert second.lsn > first.lsn
    newest = state / "snapshots" / f"{second.tag}.snap"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))

    def same(c):
        assert snapshot_of(c, "p") == expected

    proc = restart_and_check(state, same)
    report = Path(proc.log_path).read_text()
    assert f"skipped snapshot {second.tag}.snap: checksum mismatch" in report
    assert f"from snapshot {first.tag}.snap" in report


def test_restore_tag_after_further_updates_is_exact(tmp_path):
    state = tmp_path / "s"
    proc = start(state)
    try:
        with mopps.Client(proc.listen) as c:
            c.create_pool("p", decay=0.5, seed=11)
            c.register("p", np.arange(500))
            for step in range(5):
                sel = c.select("p", 16, candidate_count=64)
                c.update("p", sel.ids, (sel.ids % 4).astype(float), rollouts=3)
            info = c.snapshot("p", "step-5")
            assert (info.pool, info.tag, info.prompt_count) == ("p", "step-5", 500)
            tagged = snapshot_of(c, "p")
            next_after_tag = [c.select("p", 16, candidate_count=64).ids.tolist() for _ in range(3)]
            for step in range(5):
                sel = c.select("p", 16, candidate_count=64)
                c.update("p", sel.ids, np.ones(16), rollouts=3)
            assert snapshot_of(c, "p") != tagged
            c.restore("p", "step-5")
            assert snapshot_of(c, "p") == tagged
            # Counters and epoch were restored too: the same selects follow.
            assert [c.select("p", 16, candidate_count=64).ids.tolist() for _ in range(3)] == next_after_tag
            c.drop_pool("p")
            c.restore("p", "step-5")
            assert snapshot_of(c, "p") == tagged
            assert [s.tag for s in c.list_snapshots("p")] == ["step-5"]
    finally:
        assert proc.stop() == 0
    # Tags and the restore survive a restart.
    proc = start(state)
    try:
        with mopps.Client(proc.listen) as c:
            assert snapshot_of(c, "p") == tagged
            assert [s.tag for s in c.list_snapshots("p")] == ["step-5"]
    finally:
        assert proc.stop() == 0


def test_automatic_snapshots_compact_the_log(tmp_path):
    state = tmp_path / "s"
    proc = start(state, "--snapshot-every", "50")
    try:
        with mopps.Client(proc.listen) as c:
            c.create_pool("p", seed=1)
            for j in range(400):
                c.update("p", [j % 37], [1], rollouts=2)
            time.sleep(0.3)
            expected = snapshot_of(c, "p")
            snaps = [s for s in c.list_snapshots() if s.pool == ""]
            assert 1 <= len(snaps) <= 2
    finally:
        assert proc.stop() == 0
    logs = [f for f in (state / "wal").iterdir() if f.suffix == ".log"]
    assert len(logs) <= 3, [f.name for f in logs]  # older log files were deleted

    def same(c):
        assert snapshot_of(c, "p") == expected

    restart_and_check(state, same)


def test_second_server_on_the_same_state_dir_is_refused(tmp_path):
    state = tmp_path / "s"
    proc = start(state)
    try:
        with pytest.raises(mopps.LaunchError):
            mopps.start(state_dir=str(state), listen=f"ipc://{tmp_path}/other.sock", publish=f"ipc://{tmp_path}/o.sock")
    finally:
        assert proc.stop() == 0


STATE = {"0": [1.0, 2.0], "17": [3.7, 0.1], "geometry/q-12": [2.5, 8.0], "007": [1.0, 1.0], "ü-key": [4.0, 5.5]}


def test_reference_state_round_trip_over_rpc(tmp_path):
    proc = start(tmp_path / "s")
    try:
        with mopps.Client(proc.listen) as c:
            c.create_pool("p", prior_alpha=1, prior_beta=2, seed=1)
            assert c.import_state("p", STATE) == len(STATE)
            assert c.export_state("p", path=tmp_path / "out.json") == STATE
            assert json.loads((tmp_path / "out.json").read_text()) == STATE
            # Ids follow the documented rule; string keys survive a restart.
            got = c.get("p", [mopps.reference.key_to_id(k)[0] for k in STATE])
            assert got.known.all()
            c.create_pool("e", prior_alpha=1, prior_beta=2, seed=1)
            c.import_state("e", {"a": [1, 0, 1], "5": [0, 0]}, format="eval", multiplier=3)
            assert c.export_state("e") == {"a": [7.0, 5.0], "5": [1.0, 8.0]}
            with pytest.raises(mopps.RpcError) as e:
                c.import_state("p", {"9": [0.0, 1.0]})
            assert e.value.code == "INVALID_ARGUMENT" and "alpha" in e.value.message
            assert c.export_state("p") == STATE  # the refused import changed nothing
    finally:
        assert proc.stop() == 0
    def same(c):
        assert c.export_state("p") == STATE

    restart_and_check(tmp_path / "s", same)


def test_import_and_export_state_commands(tmp_path):
    state = tmp_path / "s"
    (tmp_path / "in.json").write_text(json.dumps(STATE))
    binary = mopps.find_moppsd()
    run = lambda *a: subprocess.run([binary, *a], capture_output=True, text=True, timeout=60)  # noqa: E731
    missing = run("import-state", "--state-dir", str(state), "--pool", "p", str(tmp_path / "in.json"))
    assert missing.returncode != 0 and "--create" in missing.stderr
    ok = run("import-state", "--state-dir", str(state), "--pool", "p", "--create", "--seed", "4", str(tmp_path / "in.json"))
    assert ok.returncode == 0, ok.stderr
    out = run("export-state", "--state-dir", str(state), "--pool", "p", "--out", str(tmp_path / "out.json"))
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "out.json").read_text()) == STATE
    # A server on that directory sees the same prompts under the same ids (Swift and Python agree).
    proc = start(state)
    try:
        with mopps.Client(proc.listen) as c:
            assert c.export_state("p") == STATE
            assert c.get("p", [mopps.reference.key_to_id("geometry/q-12")[0]]).known.all()
    finally:
        assert proc.stop() == 0
    inspect = run("inspect", str(state))
    assert inspect.returncode == 0, inspect.stderr
    assert "pool p: 5 prompts" in inspect.stdout and "posterior means" in inspect.stdout


def test_inspect_reports_damage_without_repairing(tmp_path):
    wal = _build_log(tmp_path / "s", n=10)
    os.truncate(wal, wal.stat().st_size - 3)
    size = wal.stat().st_size
    out = subprocess.run([mopps.find_moppsd(), "inspect", str(tmp_path / "s")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pool p: 9 prompts" in out.stdout and "torn record" in out.stdout
    assert wal.stat().st_size == size  # inspection changed nothing
