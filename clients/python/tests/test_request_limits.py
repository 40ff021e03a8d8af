"""What one request can cost is bounded before it is decoded: element counts, string caps, NUL
bytes and decode memory, against a real moppsd."""

import os

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
