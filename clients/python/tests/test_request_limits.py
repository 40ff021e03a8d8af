"""What one request can cost is bounded before it is decoded: element counts, string caps, NUL
bytes and decode memory, against a real moppsd."""

import os
import time

import numpy as np

import pytest
import zmq

import mopps
from mopps.v1 import selector_pb2 as pb

PREFIX = "/mopps.v1.Selector/"


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def call(endpoint, method, body, timeout_ms=60000):
    with zmq.Context() as ctx, ctx.socket(zmq.REQ) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, timeout_ms)
        s.connect(endpoint)
        s.send_multipart([(PREFIX + method).encode(), body])
        status, _ = s.recv_multipart()
        return pb.Status.FromString(status)


def varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append(v & 0x7F | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def field(number, payload):
    return varint(number << 3 | 2) + varint(len(payload)) + payload


@pytest.fixture
def started(tmp_path):
    def start(*args):
        process = mopps.start(state_dir=str(tmp_path / "state"), extra_args=list(args))
        started.processes.append(process)
        return process
    started.processes = []
    yield start
    for process in started.processes:
        assert process.stop() == 0


def test_unpacked_one_byte_varints_are_refused_before_decoding(started):
    # 32 MiB of `ids` as 16 M unpacked 1-byte varints: within --max-ids and --max-message-bytes, but
    # protobuf-c would need ~570 MB to decode it.
    server = started()
    with mopps.Client(server.listen) as c:
        c.create_pool("p", seed=1)
    body = field(1, b"p") + b"\x10\x01" * (1 << 24)
    status = call(server.listen, "Register", body)
    # The body itself is held a few times (ZeroMQ, the frame); decoding never started.
    peak = peak_rss_mb(server.popen.pid)
    assert peak < 300, f"peak RSS {peak:.0f} MB"
    assert status.code == pb.RESOURCE_EXHAUSTED and "--max-request-memory" in status.message
    with mopps.Client(server.listen) as c:
        assert c.list_pools()[0].prompt_count == 0


def test_packed_register_of_many_ids_still_fits(started):
    server = started("--max-ids", "2000000")
    with mopps.Client(server.listen, timeout=60) as c:
        c.create_pool("p", seed=1)
        assert c.register("p", list(range(2_000_000))) == 2_000_000


def test_counts_are_checked_on_the_wire(started):
    server = started("--max-ids", "1000")
    with mopps.Client(server.listen) as c:
        c.create_pool("p", seed=1)
    names = b"".join(field(8, b"") for _ in range(1001))  # empty names: 2 bytes each on the wire
    status = call(server.listen, "Import", field(1, b"p") + names)
    assert status.code == pb.RESOURCE_EXHAUSTED and "names" in status.message and "--max-ids" in status.message
    unpacked = b"".join(b"\x10" + varint(i) for i in range(1001))
    status = call(server.listen, "Register", field(1, b"p") + unpacked)
    assert status.code == pb.RESOURCE_EXHAUSTED and "ids" in status.message and "--max-ids" in status.message


def test_long_strings_are_refused_naming_the_field(started):
    server = started()
    with mopps.Client(server.listen) as c:
        c.create_pool("p", seed=1)
        wal = os.path.join(server.state_dir, "wal")
        size = sum(os.path.getsize(os.path.join(wal, f)) for f in os.listdir(wal))
        with pytest.raises(mopps.RpcError) as e:
            c.update("p", [1], successes=[1], rollouts=1, request_id="r" * (8 << 20))
        assert e.value.code == "INVALID_ARGUMENT" and "request_id" in e.value.message
        assert sum(os.path.getsize(os.path.join(wal, f)) for f in os.listdir(wal)) == size  # nothing logged
        with pytest.raises(mopps.RpcError) as e:
            c.snapshot("p", "t" * 129)
        assert e.value.code == "INVALID_ARGUMENT" and "tag" in e.value.message
    status = call(server.listen, "Import", field(1, b"p") + field(8, b"n" * 5000))
    assert status.code == pb.INVALID_ARGUMENT and "names" in status.message


def test_nul_in_a_string_is_refused_not_truncated(started):
    # protobuf-c strings are C strings: "a\0b" used to create pool "a".
    server = started()
    with mopps.Client(server.listen) as c:
        with pytest.raises(mopps.RpcError) as e:
            c.create_pool("a\0b", seed=1)
        assert e.value.code == "INVALID_ARGUMENT" and "pool" in e.value.message and "NUL" in e.value.message
        assert [p.name for p in c.list_pools()] == []
        c.create_pool("a", seed=1)
        for call_ in (lambda: c.snapshot("a", "t\0x"), lambda: c.update("a", [1], [1], rollouts=1, request_id="r\0"),
                      lambda: c.get("a\0")):
            with pytest.raises(mopps.RpcError) as e:
                call_()
            assert e.value.code == "INVALID_ARGUMENT" and "NUL" in e.value.message
        assert c.list_snapshots() == [] or all(s.tag != "t" for s in c.list_snapshots())
        assert c.list_pools()[0].update_count == 0
    status = call(server.listen, "Import", field(1, b"a") + field(8, b"x\0y"))
    assert status.code == pb.INVALID_ARGUMENT and "names" in status.message


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024


def test_replies_to_a_client_that_does_not_read_are_bounded(started):
    # A DEALER pipelines 600 Gets of ~2 MB replies and reads none: without a send high-water mark the
    # server queued every reply (~1.2 GB); with it, extra replies to that peer are dropped (what RSS
    # still grows is freed memory the allocator keeps).
    server = started()
    n = 80_000
    with mopps.Client(server.listen, timeout=30) as c:
        c.create_pool("p", seed=1)
        c.register("p", list(range(n)))
        baseline = rss_mb(server.popen.pid)
        body = pb.GetRequest(pool="p", ids_le=np.arange(n, dtype="<u8").tobytes(), packed_reply=True)
        body = body.SerializeToString()
        with zmq.Context() as ctx, ctx.socket(zmq.DEALER) as s:
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVBUF, 64 << 10)  # keep the kernel from buffering much on our side
            s.setsockopt(zmq.RCVHWM, 1)
            s.connect(server.listen)
            for _ in range(600):
                s.send_multipart([b"", (PREFIX + "Get").encode(), body])
            deadline = time.monotonic() + 60
            while (get := c.stats().methods.get("Get")) is None or get.count < 600:
                assert time.monotonic() < deadline, "the Gets were not handled"
                time.sleep(0.2)
            time.sleep(1)  # replies handed between threads settle (dropped ones are freed)
            growth = rss_mb(server.popen.pid) - baseline
            assert growth < 400, f"RSS grew by {growth:.0f} MB holding unread replies"
            # The client is still served once it reads again.
            s.setsockopt(zmq.RCVTIMEO, 2000)
            received = 0
            try:
                while True:
                    s.recv_multipart()
                    received += 1
            except zmq.Again:
                pass
            assert 0 < received <= 32  # the high-water mark (16), not all 600
            s.send_multipart([b"", (PREFIX + "Health").encode(), b""])
            s.setsockopt(zmq.RCVTIMEO, 10000)
            assert pb.Status.FromString(s.recv_multipart()[1]).code == pb.OK


def test_request_ids_that_are_not_utf8_are_refused_not_merged(started):
    # Both ids used to decode to "a\ufffd", so the second, different Update was taken for a retry.
    server = started()
    with mopps.Client(server.listen) as c:
        c.create_pool("p", seed=1)
    for raw_id, ids in ((b"a\xff", [1]), (b"a\xfe", [2])):
        body = field(1, b"p") + field(3, np.asarray(ids, dtype="<u8").tobytes()) + b"\x40\x01" + field(9, raw_id)
        body += field(5, np.asarray([1.0], dtype="<f8").tobytes())
        status = call(server.listen, "Update", body)
        assert status.code == pb.INVALID_ARGUMENT and "request_id" in status.message and "UTF-8" in status.message
