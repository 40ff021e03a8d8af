"""Server-side guarantees for real jobs and hostile neighbours, each against a real moppsd:
idempotent Select, Update content checks, strict ids, counters across restarts, per-pool locking,
safe state files, damaged-state handling, disk-full refusals, ipc take-over, shutdown replies."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import mopps
from mopps.v1 import selector_pb2 as pb

from test_persistence import restart_and_check, snapshot_of, start


def keyed_select(c, pool, batch, request_id, **fields):
    """A Select with a request id, through the raw call (the field every client sends)."""
    req = pb.SelectRequest(pool=pool, batch_size=batch, request_id=request_id, return_means=True, **fields)
    code, message, body = c.call_raw("Select", req.SerializeToString())
    if code != pb.OK:
        raise mopps.RpcError(pb.Code.Name(code), message)
    reply = pb.SelectResponse.FromString(body)
    return list(reply.ids), list(reply.samples), list(reply.means), reply.select_index


def raw_create(c, pool, **config):
    req = pb.CreatePoolRequest(pool=pool, config=pb.PoolConfig(**config))
    code, message, body = c.call_raw("CreatePool", req.SerializeToString())
    if code != pb.OK:
        raise mopps.RpcError(pb.Code.Name(code), message)
    return pb.CreatePoolResponse.FromString(body).pool


def same_as(expected, pool="p"):
    def check(c):
        assert snapshot_of(c, pool) == expected

    return check


def select_count(c, pool):
    return {p.name: p.select_count for p in c.list_pools()}[pool]


# ---- idempotent Select -------------------------------------------------------------------------


def test_keyed_select_draws_once_and_refuses_other_arguments(tmp_path):
    state = tmp_path / "s"
    proc = start(state)
    try:
        with mopps.Client(proc.listen) as c:
            c.create_pool("p", seed=5)
            c.register("p", np.arange(200))
            first = keyed_select(c, "p", 8, "run1-e0-b0", candidate_count=64)
            # Two ranks (or a retry) with the same key and arguments: the same reply, one draw.
            assert keyed_select(c, "p", 8, "run1-e0-b0", candidate_count=64) == first
            assert select_count(c, "p") == 1
            for other in ({"candidate_count": 32}, {"candidates": list(range(64))}):
                with pytest.raises(mopps.RpcError) as err:
                    keyed_select(c, "p", 8, "run1-e0-b0", **other)
                assert err.value.code == "FAILED_PRECONDITION" and "request_id" in str(err.value)
            assert select_count(c, "p") == 1
            second = keyed_select(c, "p", 8, "run1-e0-b1", candidate_count=64)
            assert second != first and second[3] == 1
            c.snapshot("p", "after-b1")
            third = keyed_select(c, "p", 8, "run1-e0-b2", candidate_count=64)
        os.kill(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait()
        proc = start(state)
        with mopps.Client(proc.listen) as c:
            # Remembered across a crash: the log holds keyed selects one by one.
            assert keyed_select(c, "p", 8, "run1-e0-b2", candidate_count=64) == third
            assert select_count(c, "p") == 3
            # A tag restores the window of its moment: b1 is remembered, b2 is drawn again (and the
            # epoch and counter are those of the tag, so the same batch comes out).
            c.restore("p", "after-b1")
            assert keyed_select(c, "p", 8, "run1-e0-b1", candidate_count=64) == second
            assert keyed_select(c, "p", 8, "run1-e0-b2", candidate_count=64) == third
    finally:
        assert proc.stop() == 0


def test_concurrent_ranks_with_one_key_get_one_batch(server):
    with mopps.Client(server.listen) as c:
        c.create_pool("p", seed=1)
        c.register("p", np.arange(1000))
    replies, errors = [], []

    def rank():
        try:
            with mopps.Client(server.listen) as c:
                replies.extend(keyed_select(c, "p", 16, f"job-step-{s}", candidate_count=128) for s in range(20))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=rank) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    by_step = {}
    for r in replies:
        by_step.setdefault(r[3], []).append(r)
    assert sorted(by_step) == list(range(20))  # one draw per key: select indices 0..19
    assert all(len(v) == 4 and all(x == v[0] for x in v) for v in by_step.values())
    with mopps.Client(server.listen) as c:
        assert select_count(c, "p") == 20


# ---- Updates: content checks and strict ids ---------------------------------------------------


def test_reused_update_id_with_other_content_is_refused(client):
    client.create_pool("p", seed=1)
    assert not client.update("p", [1, 2], [1, 0], rollouts=1, request_id="rank0-step3").duplicate
    assert client.update("p", [1, 2], [1, 0], rollouts=1, request_id="rank0-step3").duplicate
    before = snapshot_of(client, "p")
    for ids, successes in (([1, 3], [1, 0]), ([1, 2], [0, 0]), ([2, 1], [0, 1])):
        with pytest.raises(mopps.RpcError) as err:
            client.update("p", ids, successes, rollouts=1, request_id="rank0-step3")
        assert err.value.code == "FAILED_PRECONDITION" and "request_id" in str(err.value)
    assert snapshot_of(client, "p") == before


def test_strict_ids_refuse_unregistered_updates(client):
    info = raw_create(client, "p", seed=1, strict_ids=True)
    assert info.config.strict_ids
    client.register("p", [1, 2, 3])
    client.update("p", [1, 2], [1, 0], rollouts=1)
    before = snapshot_of(client, "p")
    with pytest.raises(mopps.RpcError) as err:
        client.update("p", [2, 99], [1, 0], rollouts=1)
    assert err.value.code == "NOT_FOUND" and "99" in str(err.value) and "strict_ids" in str(err.value)
    assert snapshot_of(client, "p") == before
    raw_create(client, "loose", seed=1)
    client.update("loose", [99], [1], rollouts=1)  # default: unknown ids are added


# ---- counters and epochs across restarts ------------------------------------------------------


def _steps(c, n, first=0):
    out = []
    for step in range(first, first + n):
        drawn = c.select("p", 4, candidate_count=16)
        given = c.select("p", 4, candidates=np.arange(step, step + 40))
        out.append((drawn.ids.tolist(), given.ids.tolist(), given.samples.tolist()))
    return out


def test_select_counter_and_epoch_continue_after_a_restart(tmp_path):
    def fresh(c):
        c.create_pool("p", seed=21)
        c.register("p", np.arange(50))

    # Uninterrupted run: 6 steps.
    proc = start(tmp_path / "a")
    with mopps.Client(proc.listen) as c:
        fresh(c)
        expected = _steps(c, 6)
    assert proc.stop() == 0
    # The same with a clean restart after 3 steps, and again with kill -9 after 3 steps.
    for crash in (False, True):
        state = tmp_path / ("crash" if crash else "clean")
        proc = start(state, "--fsync", "always")
        with mopps.Client(proc.listen) as c:
            fresh(c)
            head = _steps(c, 3)
            if crash:
                time.sleep(0.5)  # the background thread logs counters of unkeyed selects every 100 ms
        if crash:
            os.kill(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait()
        else:
            assert proc.stop() == 0
        proc = start(state)
        with mopps.Client(proc.listen) as c:
            assert select_count(c, "p") == 6
            tail = _steps(c, 3, first=3)
        assert proc.stop() == 0
        assert head + tail == expected, f"crash={crash}"


# ---- one pool's big mutation does not hold up the others ---------------------------------------


def test_big_register_does_not_hold_up_other_pools(server):
    with mopps.Client(server.listen) as c:
        c.create_pool("big", seed=1)
        c.create_pool("small", seed=2)
    done = threading.Event()
    span = []

    def big():
        with mopps.Client(server.listen, timeout=60) as c:
            start = time.monotonic()
            c.register("big", np.arange(8_000_000, dtype=np.uint64))
            span.append(time.monotonic() - start)
        done.set()

    gaps = []
    with mopps.Client(server.listen, timeout=60) as c:
        t = threading.Thread(target=big)
        t.start()
        last = time.monotonic()
        while not done.is_set():
            c.health()
            c.update("small", [1], [1], rollouts=1)
            now = time.monotonic()
            gaps.append(now - last)
            last = now
        t.join()
        assert {p.name: p.prompt_count for p in c.list_pools()}["big"] == 8_000_000
    # While the 8 M-id Register ran (most of it applying under its pool's lock), Health and Updates
    # of another pool kept being answered: no wait of more than a fifth of the Register's time.
    assert span[0] > 0.3 and len(gaps) >= 5, (span, len(gaps))
    assert max(gaps) < 0.2 * span[0], (max(gaps), span[0])


def test_concurrent_registers_cannot_pass_the_prompt_limit_together(tmp_path):
    proc = start(tmp_path / "s", "--max-prompts-per-pool", "600000", "--workers", "4")
    try:
        for round_ in range(3):
            pool = f"p{round_}"
            with mopps.Client(proc.listen) as c:
                c.create_pool(pool, seed=1)
            results = []

            def reg(offset):
                with mopps.Client(proc.listen) as c:
                    try:
                        c.register(pool, np.arange(offset, offset + 400_000, dtype=np.uint64))
                        results.append("ok")
                    except mopps.RpcError as e:
                        results.append(e.code)

            threads = [threading.Thread(target=reg, args=(k * 400_000,)) for k in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(results) == ["RESOURCE_EXHAUSTED", "ok"]
            with mopps.Client(proc.listen) as c:
                assert {p.name: p.prompt_count for p in c.list_pools()}[pool] == 400_000
    finally:
        assert proc.stop() == 0


def test_updates_racing_restores_leave_live_and_recovered_state_equal(tmp_path):
    state = tmp_path / "s"
    proc = start(state, "--workers", "3")
    stop = threading.Event()
    try:
        with mopps.Client(proc.listen) as c:
            c.create_pool("p", seed=1)
            c.register("p", np.arange(300_000, dtype=np.uint64))  # a Restore of it takes a while
            c.update("p", [1, 2, 3], [1, 1, 1], rollouts=2)
            c.snapshot("p", "t")

        applied, errors = [0, 0], []  # updates each updater got acknowledged while the restores ran

        def updater(k):
            try:
                with mopps.Client(proc.listen) as c:
                    i = 0
                    while not stop.is_set():
                        c.update("p", [1 + (i % 3)], [1], rollouts=1, request_id=f"u{k}-{i}")
                        i += 1
                        applied[k] = i
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=updater, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        with mopps.Client(proc.listen) as c:
            for _ in range(15):
                c.restore("p", "t")
        stop.set()
        for t in threads:
            t.join()
        assert not errors, errors
        assert min(applied) > 0, "the updaters raced nothing"
        with mopps.Client(proc.listen) as c:
            live = snapshot_of(c, "p")
    finally:
        assert proc.stop() == 0
    restart_and_check(state, same_as(live))


# ---- state files: names, FIFOs, links, temporaries --------------------------------------------


def test_restore_validates_names_before_touching_files(tmp_path):
    state = tmp_path / "s"
    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    (outside / "x" / "t.snap").write_bytes(b"MOPPSSNP not really")
    proc = start(state)
    try:
        with mopps.Client(proc.listen, timeout=3) as c:
            c.create_pool("p", seed=1)
            for pool, tag in (("../../outside/x", "t"), ("p/../..", "t"), ("p", "../t"), ("p", ".hidden")):
                with pytest.raises(mopps.RpcError) as err:
                    c.restore(pool, tag)
                assert err.value.code == "INVALID_ARGUMENT", (pool, tag, err.value)
                assert str(tmp_path) not in str(err.value)
            # A FIFO where a tag should be: refused at once, never waited on.
            (state / "tags" / "p").mkdir(parents=True)
            os.mkfifo(state / "tags" / "p" / "f.snap")
            for _ in range(3):
                with pytest.raises(mopps.RpcError) as err:
                    c.restore("p", "f")
                assert err.value.code == "DATA_LOSS" and "not a regular file" in str(err.value)
                assert str(tmp_path) not in str(err.value)
            # A tag directory that is a link out of the state dir is not followed.
            os.symlink(outside / "x", state / "tags" / "q")
            with pytest.raises(mopps.RpcError) as err:
                c.restore("q", "t")
            assert err.value.code == "DATA_LOSS" and str(tmp_path) not in str(err.value)
            assert [s.pool for s in c.list_snapshots()] == []
            assert c.health()
    finally:
        assert proc.stop() == 0


def test_stale_temporaries_are_removed_and_concurrent_tag_saves_succeed(tmp_path):
    state = tmp_path / "s"
    proc = start(state)
    with mopps.Client(proc.listen) as c:
        c.create_pool("p", seed=1)
        c.update("p", [1], [1], rollouts=1)
    assert proc.stop() == 0
    (state / "snapshots" / "state-0000000000000001.snap.4242-1.tmp").write_bytes(b"partial")
    (state / "tags" / "p").mkdir(parents=True, exist_ok=True)
    (state / "tags" / "p" / "t.snap.tmp").write_bytes(b"partial")
    proc = start(state)
    try:
        assert not list(state.rglob("*.tmp"))
        errors = []

        def save():
            with mopps.Client(proc.listen) as c:
                for _ in range(20):
                    try:
                        c.snapshot("p", "same")
                    except mopps.RpcError as e:
                        errors.append(e)

        threads = [threading.Thread(target=save) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
    finally:
        assert proc.stop() == 0


# ---- damaged state ----------------------------------------------------------------------------


def test_damaged_snapshot_is_set_aside_and_never_causes_the_good_one_to_be_deleted(tmp_path):
    state = tmp_path / "s"
    proc = start(state, "--snapshot-every", "1000000")
    with mopps.Client(proc.listen) as c:
        c.create_pool("p", seed=1)
        c.update("p", [1], [1], rollouts=1)
        c.snapshot()
        c.update("p", [2], [1], rollouts=1)
        second = c.snapshot()
        c.update("p", [3], [1], rollouts=1)
    assert proc.stop() == 0
    newest = state / "snapshots" / f"{second.tag}.snap"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    proc = start(state, "--snapshot-every", "1000000")
    with mopps.Client(proc.listen) as c:
        assert not newest.exists() and Path(str(newest) + ".corrupt").exists()
        # Two more snapshots: compaction must keep what the older good one needs.
        c.update("p", [4], [1], rollouts=1)
        c.snapshot()
        c.update("p", [5], [1], rollouts=1)
        expected = snapshot_of(c, "p")
    assert proc.stop() == 0
    restart_and_check(state, same_as(expected))


def test_unrecoverable_state_refuses_to_start_unless_told(tmp_path):
    state = tmp_path / "s"
    proc = start(state, "--snapshot-every", "1000000")
    with mopps.Client(proc.listen) as c:
        c.create_pool("p", seed=1)
        c.update("p", [1], [1], rollouts=1)
        c.snapshot()
        c.update("p", [2], [1], rollouts=1)
        c.snapshot()  # compacts: the log before the first snapshot is gone
        c.update("p", [3], [1], rollouts=1)
    assert proc.stop() == 0
    for snap in (state / "snapshots").glob("state-*.snap"):
        data = bytearray(snap.read_bytes())
        data[-3] ^= 0xFF
        snap.write_bytes(bytes(data))
    before = sorted((p.name, p.stat().st_size) for p in state.rglob("*") if p.is_file())
    log = tmp_path / "refused.log"
    with open(log, "w") as err:
        code = subprocess.run(
            [os.environ["MOPPSD"], "serve", "--state-dir", str(state), "--listen", f"ipc://{tmp_path}/r.sock",
             "--publish", f"ipc://{tmp_path}/r-ev.sock"], stderr=err, timeout=30).returncode
    assert code != 0
    text = log.read_text()
    assert "cannot be recovered" in text and "--accept-data-loss" in text
    assert sorted((p.name, p.stat().st_size) for p in state.rglob("*") if p.is_file()) == before
    proc = start(state, "--accept-data-loss")
    assert proc.stop() == 0


# ---- a full disk ------------------------------------------------------------------------------


def test_refused_write_leaves_no_trace_and_the_server_recovers_when_room_returns(tmp_path):
    if shutil.which("prlimit") is None:
        pytest.skip("prlimit (util-linux) not installed")
    state = tmp_path / "s"
    proc = start(state, "--snapshot-every", "1000000", "--fsync", "always")
    try:
        with mopps.Client(proc.listen) as c:
            c.create_pool("p", seed=1)
            c.update("p", [1], [1], rollouts=1)
            for pool in ("d", "ref"):
                c.create_pool(pool, seed=5)
                c.register(pool, np.arange(40))
            # Files may grow no further than the log is now: the next record's write fails (EFBIG).
            size = max(f.stat().st_size for f in (state / "wal").iterdir())
            subprocess.run(["prlimit", f"--pid={proc.popen.pid}", f"--fsize={size}:unlimited"], check=True)
            before = snapshot_of(c, "p")
            with pytest.raises(mopps.RpcError) as err:
                c.update("p", [1, 2], [1, 1], rollouts=1, request_id="r1")
            assert err.value.code in ("RESOURCE_EXHAUSTED", "UNAVAILABLE")
            assert "nothing was changed" in str(err.value)
            assert snapshot_of(c, "p") == before  # no trace, also not to Get
            # A drawn Select that cannot be logged is refused and its epoch taken back.
            with pytest.raises(mopps.RpcError) as err:
                c.select("d", 4, candidate_count=30)
            assert "nothing was changed" in str(err.value)
            subprocess.run(["prlimit", f"--pid={proc.popen.pid}", "--fsize=unlimited:unlimited"], check=True)
            # The same candidates as a pool that never saw the refused select (the counter, which only
            # keys random streams, is not taken back, so compare the draws, not the chosen few).
            drawn = [c.select(p, 4, candidate_count=30, return_all_samples=True).candidate_ids.tolist()
                     for p in ("d", "ref")]
            assert drawn[0] == drawn[1]
            assert not c.update("p", [1, 2], [1, 1], rollouts=1, request_id="r1").duplicate
            expected = snapshot_of(c, "p")
    finally:
        assert proc.stop() == 0
    restart_and_check(state, same_as(expected))


# ---- a second server, the lock, shutdown, the parent ------------------------------------------


def test_second_server_cannot_take_over_an_ipc_path_or_the_state_dir(tmp_path):
    state = tmp_path / "s"
    proc = start(state)
    try:
        sock = proc.listen
        other = tmp_path / "other"
        run = subprocess.run(
            [os.environ["MOPPSD"], "serve", "--state-dir", str(other), "--listen", sock, "--publish",
             f"ipc://{tmp_path}/o-ev.sock"], capture_output=True, text=True, timeout=30)
        assert run.returncode != 0 and "another process serves it" in run.stderr
        for leftover in state.glob("LOCK"):
            leftover.unlink()
        run = subprocess.run(
            [os.environ["MOPPSD"], "serve", "--state-dir", str(state), "--listen", f"ipc://{tmp_path}/b.sock",
             "--publish", f"ipc://{tmp_path}/b-ev.sock"], capture_output=True, text=True, timeout=30)
        assert run.returncode != 0 and "in use by another moppsd" in run.stderr
        with mopps.Client(sock) as c:
            assert c.health()
    finally:
        assert proc.stop() == 0


def test_health_command_exit_codes(server, tmp_path):
    ok = subprocess.run([os.environ["MOPPSD"], "health", "--endpoint", server.listen], capture_output=True,
                        text=True, timeout=30)
    assert ok.returncode == 0 and "SERVING" in ok.stdout
    none = f"ipc://{tmp_path}/nobody.sock"
    bad = subprocess.run([os.environ["MOPPSD"], "health", "--endpoint", none, "--timeout", "0.3"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 1 and f"no moppsd answering at {none}" in bad.stderr
    assert "Usage" not in bad.stderr
    stats = subprocess.run([os.environ["MOPPSD"], "stats", "--endpoint", none, "--timeout", "0.3"],
                           capture_output=True, text=True, timeout=30)
    assert stats.returncode == 1 and "no moppsd answering" in stats.stderr and "Usage" not in stats.stderr


def test_exit_with_parent(tmp_path):
    code = (
        "import os, subprocess, sys\n"
        f"p = subprocess.Popen([{os.environ['MOPPSD']!r}, 'serve', '--exit-with-parent', '--state-dir', "
        f"{str(tmp_path / 's')!r}, '--listen', 'ipc://{tmp_path}/c.sock', '--publish', 'ipc://{tmp_path}/c-ev.sock'])\n"
        "import time, mopps\n"
        f"c = mopps.Client('ipc://{tmp_path}/c.sock', timeout=10)\n"
        "assert c.health()\n"
        "print(p.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(mopps.__file__).parents[1]))
    parent = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, env=env)
    assert parent.returncode == 0, parent.stderr  # the server answered before its parent died
    pid = int(parent.stdout.split()[0])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("moppsd outlived its parent")


def test_requests_still_running_at_shutdown_are_answered(tmp_path):
    proc = start(tmp_path / "s")
    with mopps.Client(proc.listen, timeout=120) as c:
        c.create_pool("big", seed=1)
        c.register("big", np.arange(8_000_000, dtype=np.uint64))
        c.snapshot("big", "all")
    outcome = []

    def restore():
        # A small request that takes the server seconds (reading, checking and installing 8 M prompts).
        with mopps.Client(proc.listen, timeout=60, retries=0) as c:
            try:
                c.restore("big", "all")
                outcome.append("OK")
            except mopps.Unavailable:
                outcome.append("no reply")
            except mopps.RpcError as e:
                outcome.append(e.code)

    t = threading.Thread(target=restore)
    t.start()
    time.sleep(0.3)
    started = time.monotonic()
    proc.popen.send_signal(signal.SIGTERM)
    t.join()
    # Finished in time, or told that the server stopped while handling it (ABORTED: it may have been
    # applied, a retry with the same request id is safe) — never left to time out.
    assert outcome in (["OK"], ["ABORTED"]), outcome
    assert time.monotonic() - started < 20
    assert proc.popen.wait(timeout=60) == 0


# ---- upgrades ----------------------------------------------------------------------------------


def test_a_state_directory_written_by_the_previous_format_recovers_exactly(tmp_path):
    """tests/fixtures/state-v1 was written by the release before format 2 (snapshot, tag, two log files)."""
    import json

    fixtures = Path(__file__).parent / "fixtures"
    expected = json.loads((fixtures / "state-v1.json").read_text())
    state = tmp_path / "s"
    shutil.copytree(fixtures / "state-v1", state)
    proc = start(state)
    try:
        with mopps.Client(proc.listen) as c:
            for pool in ("math", "code"):
                ids, alpha, beta = snapshot_of(c, pool)
                assert (ids, alpha, beta) == (expected[pool]["ids"], expected[pool]["alpha"], expected[pool]["beta"])
            assert {p.name: p.update_count for p in c.list_pools()} == {
                k: v["update_count"] for k, v in expected["pools"].items()}
            # The previous format did not log selects: the files hold the count of its last snapshot
            # (3 selects in), not the 6 its server had served.
            assert {p.name: p.select_count for p in c.list_pools()} == {"code": 0, "math": 3}
            last = expected["last_math_update"]
            # A retry remembered by the old format (no content fingerprint) is still a duplicate.
            assert c.update("math", last["ids"], last["successes"], rollouts=2, request_id=last["request_id"]).duplicate
            info = c.restore("math", "step-2")
            assert info.name == "math"
            c.update("math", [1], [1], rollouts=1, request_id="after-upgrade")
            live = snapshot_of(c, "math")
    finally:
        assert proc.stop() == 0
    restart_and_check(state, same_as(live, "math"))


def test_concurrent_creates_cannot_pass_the_pool_limit_together(tmp_path):
    proc = start(tmp_path / "s", "--max-pools", "3", "--workers", "4")
    try:
        codes = []

        def create(k):
            with mopps.Client(proc.listen) as c:
                try:
                    c.create_pool(f"p{k}", seed=1)
                    codes.append("ok")
                except mopps.RpcError as e:
                    codes.append(e.code)

        threads = [threading.Thread(target=create, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(codes) == ["RESOURCE_EXHAUSTED"] * 5 + ["ok"] * 3
        with mopps.Client(proc.listen) as c:
            live = sorted((p.name, p.seed) for p in c.list_pools())
            assert len(live) == 3
    finally:
        assert proc.stop() == 0
    # The refused creates left nothing in the log either.
    restart_and_check(tmp_path / "s", lambda c: sorted((p.name, p.seed) for p in c.list_pools()) == live
                      or pytest.fail("recovered pools differ"))
