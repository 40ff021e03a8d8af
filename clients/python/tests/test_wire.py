"""Wire-level behaviour of a live moppsd: refusals, garbage, events, other clients, shutdown."""

import contextlib
import os
import signal
import shutil
import subprocess
import time

import numpy as np
import pytest
import zmq

import mopps
from mopps.v1 import selector_pb2 as pb

from conftest import c_client_path


@contextlib.contextmanager
def serving(tmp_path, *args):
    """A client of a moppsd started with extra flags; the server must stop cleanly afterwards."""
    process = mopps.start(state_dir=str(tmp_path), extra_args=list(args))
    try:
        with mopps.Client(process.listen) as c:
            yield c
    finally:
        assert process.stop() == 0


def _state(client):
    """Everything observable about the pools, to compare before and after a refused request."""
    pools = client.list_pools()
    return [(p, client.get(p.name).ids.tolist(), client.get(p.name).alpha.tolist(), client.get(p.name).beta.tolist())
            for p in pools]


def _u64(values):
    return np.asarray(values, dtype="<u8").tobytes()


INVALID = [
    # (method, request, expected code, text the message must contain)
    ("CreatePool", pb.CreatePoolRequest(pool="p"), "ALREADY_EXISTS", "already exists"),
    ("CreatePool", pb.CreatePoolRequest(pool="bad.name"), "INVALID_ARGUMENT", "pool"),
    ("CreatePool", pb.CreatePoolRequest(pool="x", config=pb.PoolConfig(decay=1.5)), "INVALID_ARGUMENT", "config.decay"),
    ("CreatePool", pb.CreatePoolRequest(pool="x", config=pb.PoolConfig(decay=float("nan"))), "INVALID_ARGUMENT", "config.decay"),
    ("CreatePool", pb.CreatePoolRequest(pool="x", config=pb.PoolConfig(prior_alpha=0)), "INVALID_ARGUMENT", "config.prior_alpha"),
    ("CreatePool", pb.CreatePoolRequest(pool="x", config=pb.PoolConfig(band_low=0.9, band_high=0.1)), "INVALID_ARGUMENT", "config.band_low"),
    ("DropPool", pb.DropPoolRequest(pool="nope"), "NOT_FOUND", "nope"),
    ("Select", pb.SelectRequest(pool="nope", batch_size=1, candidates=[1]), "NOT_FOUND", "nope"),
    ("Select", pb.SelectRequest(pool="p", batch_size=0, candidates=[1]), "INVALID_ARGUMENT", "batch_size"),
    ("Select", pb.SelectRequest(pool="p", batch_size=3, candidates=[1, 2]), "INVALID_ARGUMENT", "batch_size"),
    ("Select", pb.SelectRequest(pool="p", batch_size=2, candidates=[1, 2, 2]), "INVALID_ARGUMENT", "candidates"),
    ("Select", pb.SelectRequest(pool="p", batch_size=2, candidates=[1, 2], candidates_le=_u64([3])), "INVALID_ARGUMENT", "candidates_le"),
    ("Select", pb.SelectRequest(pool="p", batch_size=2, candidates_le=b"\x01\x02\x03"), "INVALID_ARGUMENT", "candidates_le"),
    ("Select", pb.SelectRequest(pool="p", batch_size=2, candidate_count=1000), "INVALID_ARGUMENT", "candidate_count"),
    ("Select", pb.SelectRequest(pool="p", batch_size=2, candidates=[1, 2], strategy=9), "INVALID_ARGUMENT", "strategy"),
    ("Update", pb.UpdateRequest(pool="nope", ids=[1], successes=[1], rollouts=2), "NOT_FOUND", "nope"),
    ("Update", pb.UpdateRequest(pool="p", ids=[1], successes=[3], rollouts=2), "INVALID_ARGUMENT", "successes[0]"),
    ("Update", pb.UpdateRequest(pool="p", ids=[1], successes=[-1], rollouts=2), "INVALID_ARGUMENT", "successes[0]"),
    ("Update", pb.UpdateRequest(pool="p", ids=[1], successes=[float("nan")], rollouts=2), "INVALID_ARGUMENT", "successes[0]"),
    ("Update", pb.UpdateRequest(pool="p", ids=[1], successes=[float("inf")], rollouts=2), "INVALID_ARGUMENT", "successes[0]"),
    ("Update", pb.UpdateRequest(pool="p", ids=[1], successes=[0], trials=[0]), "INVALID_ARGUMENT", "trials[0]"),
    ("Update", pb.UpdateRequest(pool="p", ids=[1], successes=[0]), "INVALID_ARGUMENT", "trials"),
    ("Update", pb.UpdateRequest(pool="p", ids=[1, 1], successes=[0, 0], rollouts=2), "INVALID_ARGUMENT", "ids"),
    ("Update", pb.UpdateRequest(pool="p", ids=[1, 2], successes=[0], rollouts=2), "INVALID_ARGUMENT", "successes"),
    ("Update", pb.UpdateRequest(pool="p", ids=[5, 6, 7], successes=[1, 1, 9], rollouts=4), "INVALID_ARGUMENT", "successes[2]"),
    ("Update", pb.UpdateRequest(pool="p", ids=[], successes=[], rollouts=4), "INVALID_ARGUMENT", "ids"),
    ("Register", pb.RegisterRequest(pool="p", ids=[1, 1]), "INVALID_ARGUMENT", "ids"),
    ("Register", pb.RegisterRequest(pool="p", ids=[1, 2], prior_alpha=[1], prior_beta=[1, 1]), "INVALID_ARGUMENT", "prior_alpha"),
    ("Register", pb.RegisterRequest(pool="p", ids=[1], prior_alpha=[-1], prior_beta=[1]), "INVALID_ARGUMENT", "prior_alpha[0]"),
    ("Get", pb.GetRequest(pool="nope"), "NOT_FOUND", "nope"),
    ("Snapshot", pb.SnapshotRequest(pool="nope", tag="t1"), "NOT_FOUND", "nope"),
    ("Snapshot", pb.SnapshotRequest(pool="p", tag="../escape"), "INVALID_ARGUMENT", "tag"),
    ("Restore", pb.RestoreRequest(pool="p", tag="never-saved"), "NOT_FOUND", "never-saved"),
]


@pytest.mark.parametrize("method,request_,code,needle", INVALID, ids=[f"{m}-{i}" for i, (m, *_rest) in enumerate(INVALID)])
def test_invalid_input_is_refused_and_changes_nothing(client, method, request_, code, needle):
    client.create_pool("p", decay=0.5, seed=2)
    client.register("p", np.arange(20))
    client.update("p", [1, 2, 3], [1, 2, 0.5], rollouts=4)
    before = _state(client)
    got_code, message, body = client.call_raw(method, request_.SerializeToString())
    assert pb.Code.Name(got_code) == code, message
    assert needle in message, message
    assert body == b""
    assert _state(client) == before
    # The next select is what it would have been: a refused call does not advance the pool.
    assert client.list_pools()[0].select_count == 0


def test_unknown_method_and_unparsable_body(client):
    code, message, _ = client.call_raw("/mopps.v1.Selector/Frobnicate", b"")
    assert pb.Code.Name(code) == "UNIMPLEMENTED" and "Frobnicate" in message
    code, message, _ = client.call_raw("Select", b"\xff\xff\xff\xff")
    assert pb.Code.Name(code) == "INVALID_ARGUMENT" and "SelectRequest" in message


def test_client_raises_rpc_error_with_code_name(client):
    with pytest.raises(mopps.RpcError) as e:
        client.select("missing", 1, candidates=[1])
    assert e.value.code == "NOT_FOUND" and "missing" in e.value.message


def test_garbage_frames_then_a_valid_request(server):
    """1,000 random multipart messages (random frame counts, sizes and bytes, some with real method
    paths) from a DEALER and a REQ socket: every one is answered, then a valid request works."""
    rng = np.random.default_rng(1234)
    ctx = zmq.Context.instance()
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 5000)
    dealer.connect(server.listen)
    paths = [f"/mopps.v1.Selector/{m}".encode() for m in ("Select", "Update", "CreatePool", "Get", "Register")]
    for i in range(1000):
        frames = []
        for _ in range(int(rng.integers(0, 5))):
            if rng.random() < 0.3:
                frames.append(paths[int(rng.integers(len(paths)))])
            else:
                frames.append(rng.integers(0, 256, size=int(rng.integers(0, 200)), dtype=np.uint8).tobytes())
        if not frames:
            frames = [b""]
        dealer.send_multipart(frames)
        reply = dealer.recv_multipart()
        # The envelope ends at the first frame that is empty (a delimiter, part of the envelope) or
        # starts with "/" (the method, first of the request); it comes back in front of
        # [status][body]. Without either: just [status][body].
        start = next((k + 1 if f == b"" else k for k, f in enumerate(frames) if f == b"" or f[:1] == b"/"), 0)
        assert reply[:start] == frames[:start] and len(reply) == start + 2, (frames, reply)
        status = reply[start]
        pb.Status.FromString(status)  # parses
    dealer.close()
    with mopps.Client(server.listen) as c:
        c.create_pool("after-fuzz", seed=1)
        sel = c.select("after-fuzz", 2, candidates=[10, 20, 30])
        assert len(sel.ids) == 2 and set(sel.ids.tolist()) <= {10, 20, 30}
        assert c.health() == "SERVING"


def test_c_client_round_trip(server, client):
    exe = c_client_path()
    if not os.access(exe, os.X_OK):
        pytest.fail(f"C client not built at {exe}: run `make c-client`")
    out = subprocess.run([exe, server.listen, "cpool"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.strip().splitlines()]
    assert len(rows) == 8
    ids = [int(r[0]) for r in rows]
    assert len(set(ids)) == 8 and all(1000 <= i < 1064 for i in ids)
    for _id, sample, successes, alpha, beta in rows:
        assert 0 <= float(sample) <= 1
        assert float(alpha) == 1 + float(successes) and float(beta) == 1 + 4 - float(successes)
    # The Python client sees what the C client wrote.
    got = client.get("cpool", ids)
    np.testing.assert_allclose(got.alpha, [float(r[3]) for r in rows])
    info = client.list_pools()[0]
    assert info.seed == 7
    assert (info.select_count, info.update_count) == (1, 1)  # the retries drew and applied nothing


def test_pub_events_reach_a_subscriber(server, client):
    client.create_pool("ev", seed=1)
    with mopps.Subscriber(server.publish, pool="ev") as sub:
        # Slow joiner: publish until the subscription is in place, then check the real events.
        deadline = time.monotonic() + 5
        while sub.receive(timeout=0.05) is None:
            assert time.monotonic() < deadline, "subscriber never joined"
            client.select("ev", 1, candidates=[1])
        while sub.receive(timeout=0.2) is not None:
            pass
        sel = client.select("ev", 2, candidates=[5, 6, 7])
        client.update("ev", sel.ids, [1, 2], rollouts=2, request_id="r1")
        first, second = sub.receive(timeout=2), sub.receive(timeout=2)
    assert (first.pool, first.kind) == ("ev", "select")
    assert first.ids.tolist() == sel.ids.tolist()
    np.testing.assert_array_equal(np.asarray(first.message.samples, dtype=np.float32), sel.samples)
    assert first.message.candidate_count == 3
    assert (second.pool, second.kind) == ("ev", "update")
    assert second.ids.tolist() == sel.ids.tolist()
    assert list(second.message.alpha) == [2.0, 3.0] and second.message.request_id == "r1"


def test_duplicate_request_id_applies_once(client):
    client.create_pool("p", seed=1)
    assert not client.update("p", [1], [1], rollouts=1, request_id="step-7").duplicate
    assert client.update("p", [1], [1], rollouts=1, request_id="step-7").duplicate
    assert client.get("p", [1]).alpha[0] == 2


def test_id_limit_is_resource_exhausted(tmp_path):
    with serving(tmp_path, "--max-ids", "100") as c:
        c.create_pool("p", seed=1)
        with pytest.raises(mopps.RpcError) as e:
            c.select("p", 1, candidates=np.arange(101))
        assert e.value.code == "RESOURCE_EXHAUSTED" and "--max-ids" in e.value.message
        assert len(c.select("p", 1, candidates=np.arange(100)).ids) == 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_cleanly_within_a_second(tmp_path, sig):
    process = mopps.start(state_dir=str(tmp_path))
    with mopps.Client(process.listen) as c:
        c.create_pool("p", seed=1)
    started = time.monotonic()
    process.popen.send_signal(sig)
    assert process.popen.wait(timeout=5) == 0
    assert time.monotonic() - started < 1.0


def test_tcp_listen_and_remote_bind_refused(tmp_path):
    import socket as pysocket

    with pysocket.socket() as s:  # a free loopback port (tcp port 0 would not tell the client where)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = mopps.start(state_dir=str(tmp_path / "a"), listen=f"tcp://127.0.0.1:{port}")
    try:
        with mopps.Client(f"tcp://127.0.0.1:{port}") as c:
            assert c.health() == "SERVING"
    finally:
        assert process.stop() == 0
    refused = subprocess.run(
        [mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "b"), "--listen", "tcp://0.0.0.0:1"],
        capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "--insecure" in refused.stderr


def test_timeout_raises_unavailable_and_client_recovers(tmp_path):
    endpoint = f"ipc://{tmp_path}/nobody.sock"
    c = mopps.Client(endpoint, timeout=0.2)
    with pytest.raises(mopps.Unavailable):
        c.health()
    process = mopps.start(state_dir=str(tmp_path / "s"), listen=endpoint)
    try:
        assert c.health() == "SERVING"  # the same client, after its socket was replaced
    finally:
        c.close()
        assert process.stop() == 0


def test_help_explains_every_flag():
    out = subprocess.run([mopps.find_moppsd(), "serve", "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    for flag in ("--listen", "--publish", "--state-dir", "--insecure", "--max-message-bytes", "--max-ids",
                 "--max-pools", "--max-prompts-per-pool", "--workers", "--fsync", "--snapshot-every",
                 "--dedupe-window", "--no-persistence", "--busy-poll-us"):
        assert flag in out.stdout
    assert "Examples:" in out.stdout


def test_busy_poll_window_is_optional_and_checked(tmp_path):
    # 0 turns the window off: the broker then always sleeps in poll, and still answers.
    with serving(tmp_path, "--busy-poll-us", "0") as c:
        c.create_pool("p", seed=1)
        assert len(c.select("p", 2, candidates=np.arange(10)).ids) == 2
    out = subprocess.run([mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "bad"), "--busy-poll-us", "2000000"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "--busy-poll-us" in out.stderr


def test_pool_and_prompt_limits_are_resource_exhausted(tmp_path):
    with serving(tmp_path, "--max-pools", "2", "--max-prompts-per-pool", "10") as c:
        c.create_pool("a", seed=1)
        c.create_pool("b", seed=1)
        with pytest.raises(mopps.RpcError) as e:
            c.create_pool("c", seed=1)
        assert e.value.code == "RESOURCE_EXHAUSTED" and "--max-pools" in e.value.message
        assert c.register("a", np.arange(8)) == 8
        assert c.register("a", np.arange(10)) == 2  # existing ids do not count
        for call in (lambda: c.register("a", [10]), lambda: c.update("a", [11], [1], rollouts=1),
                     lambda: c.import_state("a", {"12": [1.0, 1.0]})):
            with pytest.raises(mopps.RpcError) as e:
                call()
            assert e.value.code == "RESOURCE_EXHAUSTED" and "--max-prompts-per-pool" in e.value.message
        c.update("a", [3], [1], rollouts=1)  # known prompts can still be updated
        assert c.list_pools()[0].prompt_count == 10


def test_stats_rpc_and_command(server, client):
    client.create_pool("p", seed=1)
    for _ in range(50):
        client.select("p", 2, candidates=[1, 2, 3, 4])
    with pytest.raises(mopps.RpcError):
        client.select("p", 5, candidates=[1, 2])
    s = client.stats()
    sel = s.methods["Select"]
    assert sel.count == 51 and sel.errors == 1 and sel.errors_by_code == {mopps.StatusCode.INVALID_ARGUMENT: 1}
    assert 0 < sel.p50_us <= sel.p99_us <= sel.max_us * 1.001
    assert s.resident_bytes > 1 << 20 and s.pool_bytes > 0
    binary = mopps.find_moppsd()
    text = subprocess.run([binary, "stats", "--endpoint", server.listen], capture_output=True, text=True, timeout=30)
    assert text.returncode == 0, text.stderr
    assert "Select" in text.stdout and "INVALID_ARGUMENT 1" in text.stdout and "pool p:" in text.stdout
    prom = subprocess.run([binary, "stats", "--endpoint", server.listen, "--format", "prometheus"],
                          capture_output=True, text=True, timeout=30)
    assert prom.returncode == 0, prom.stderr
    assert 'moppsd_requests_total{method="Select"} 5' in prom.stdout  # 51 or more
    assert 'moppsd_request_errors_total{method="Select",code="INVALID_ARGUMENT"} 1' in prom.stdout
    assert 'moppsd_request_handling_seconds{method="Select",quantile="0.99"}' in prom.stdout
    samples = {}
    for line in prom.stdout.splitlines():  # every sample line is "name{labels} value" or "name value"
        if not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            samples[key] = float(value)
    # A summary (in seconds, as promtool wants) carries _sum and _count over the same timed requests:
    # the mean is at most the maximum, and the count is at least the 51 Selects the Stats above saw.
    total = samples['moppsd_request_handling_seconds_sum{method="Select"}'] * 1e6
    count = samples['moppsd_request_handling_seconds_count{method="Select"}']
    assert count >= 51 and 0 < total / count <= sel.max_us * 1.001 + 1e-9
    assert sel.timed == 51 and 0 < sel.sum_us <= 51 * sel.max_us * 1.001
    if shutil.which("promtool"):
        checked = subprocess.run(["promtool", "check", "metrics"], input=prom.stdout, capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    down = subprocess.run([binary, "stats", "--endpoint", "ipc:///nonexistent/x.sock", "--timeout", "0.2"],
                          capture_output=True, text=True, timeout=30)
    assert down.returncode != 0 and "no reply" in down.stderr


def test_oversized_request_is_resource_exhausted(tmp_path):
    with serving(tmp_path, "--max-message-bytes", "10000") as c:
        c.create_pool("p", seed=1)
        with pytest.raises(mopps.RpcError) as e:
            c.select("p", 1, candidates=np.arange(4096))  # 32 KiB of ids
        assert e.value.code == "RESOURCE_EXHAUSTED" and "--max-message-bytes" in e.value.message
        assert len(c.select("p", 1, candidates=np.arange(1000)).ids) == 1


def test_structured_logs_and_log_level(tmp_path):
    log = open(tmp_path / "moppsd.log", "w")
    process = mopps.start(state_dir=str(tmp_path / "s"), extra_args=["--log-level", "debug"], stderr=log)
    try:
        with mopps.Client(process.listen) as c:
            c.health()
    finally:
        assert process.stop() == 0
        log.close()
    lines = (tmp_path / "moppsd.log").read_text().splitlines()
    assert all(line.startswith("ts=") and " level=" in line and " msg=" in line for line in lines), lines
    assert any("level=debug msg=request code=OK method=Health us=" in line for line in lines), lines
    quiet = open(tmp_path / "quiet.log", "w")
    process = mopps.start(state_dir=str(tmp_path / "q"), extra_args=["--log-level", "warning"], stderr=quiet)
    assert process.stop() == 0
    quiet.close()
    assert (tmp_path / "quiet.log").read_text() == ""
