"""Fuzzing a live moppsd over ipc: random, truncated and mutated-valid multipart requests.

Every request must get a reply, the process must stay up, and its resident memory must stay bounded.
`make test` sends MOPPS_FUZZ_FRAMES (default 3,000); `make fuzz` sends 100,000 (bounded to
MOPPS_FUZZ_SECONDS, default 600).
"""

import os
import time

import numpy as np
import zmq

import mopps
from mopps.v1 import selector_pb2 as pb

FRAMES = int(os.environ.get("MOPPS_FUZZ_FRAMES", "3000"))
SECONDS = float(os.environ.get("MOPPS_FUZZ_SECONDS", "600"))

VALID = [
    ("CreatePool", pb.CreatePoolRequest(pool="f", config=pb.PoolConfig(seed=1, decay=0.5))),
    ("Register", pb.RegisterRequest(pool="f", ids_le=np.arange(50, dtype="<u8").tobytes())),
    ("Select", pb.SelectRequest(pool="f", batch_size=4, candidates_le=np.arange(40, dtype="<u8").tobytes(), packed_reply=True)),
    ("Select", pb.SelectRequest(pool="f", batch_size=3, candidate_count=10)),
    ("Update", pb.UpdateRequest(pool="f", ids=[1, 2, 3], successes=[1, 0.5, 2], rollouts=2)),
    ("Get", pb.GetRequest(pool="f", ids=[1, 2, 99])),
    ("Import", pb.ImportRequest(pool="f", ids=[7], alpha=[2], beta=[3], names=["x"])),
    ("Export", pb.ExportRequest(pool="f")),
    ("Snapshot", pb.SnapshotRequest(pool="f", tag="t")),
    ("ListSnapshots", pb.ListSnapshotsRequest()),
    ("Stats", pb.StatsRequest()),
    ("ListPools", pb.ListPoolsRequest()),
]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mutate(rng, body):
    b = bytearray(body)
    for _ in range(int(rng.integers(1, 6))):
        if not b:
            break
        choice = rng.integers(4)
        pos = int(rng.integers(len(b)))
        if choice == 0:
            b[pos] = int(rng.integers(256))
        elif choice == 1:
            del b[pos:]
        elif choice == 2:
            b[pos:pos] = rng.integers(0, 256, size=int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
        else:
            b[pos] ^= 1 << int(rng.integers(8))
    return bytes(b)


def frames_for(rng):
    kind = rng.integers(5)
    method, message = VALID[int(rng.integers(len(VALID)))]
    path = f"/mopps.v1.Selector/{method}".encode()
    if kind == 0:  # mutated valid body
        return [path, mutate(rng, message.SerializeToString())]
    if kind == 1:  # valid body, wrong method
        other = VALID[int(rng.integers(len(VALID)))][0]
        return [f"/mopps.v1.Selector/{other}".encode(), message.SerializeToString()]
    if kind == 2:  # random bytes
        return [path, rng.integers(0, 256, size=int(rng.integers(0, 300)), dtype=np.uint8).tobytes()]
    if kind == 3:  # random frame counts and garbage paths
        return [rng.integers(0, 256, size=int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
                for _ in range(int(rng.integers(1, 5)))]
    return [path, message.SerializeToString()]  # valid


def test_fuzz_live_server(tmp_path):
    process = mopps.start(state_dir=str(tmp_path / "s"), extra_args=["--fsync", "none"])
    try:
        ctx = zmq.Context.instance()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVTIMEO, 10_000)
        sock.connect(process.listen)
        rng = np.random.default_rng(2024)
        deadline = time.monotonic() + SECONDS
        rss_start = None
        codes = {}
        sent = 0
        for i in range(FRAMES):
            if time.monotonic() > deadline:
                break
            frames = [b""] + frames_for(rng)  # REQ-style envelope: the reply comes back behind it
            sock.send_multipart(frames)
            reply = sock.recv_multipart()  # raises zmq.Again (test failure) if no reply in 10 s
            assert reply[0] == b"" and len(reply) == 3, reply
            code = pb.Status.FromString(reply[1]).code
            codes[code] = codes.get(code, 0) + 1
            sent += 1
            if i == min(1000, FRAMES // 2):
                rss_start = rss_kib(process.popen.pid)
            assert process.popen.poll() is None, "moppsd died"
        sock.close()
        assert sent >= min(FRAMES, 1000)
        growth = rss_kib(process.popen.pid) - (rss_start or 0)
        assert growth < 64 * 1024, f"RSS grew by {growth} KiB over the run"
        assert codes.get(pb.OK, 0) > 0 and codes.get(pb.INVALID_ARGUMENT, 0) > 0
        with mopps.Client(process.listen) as c:
            assert c.health() == "SERVING"
        print(f"fuzz: {sent} requests, replies by code {dict(sorted(codes.items()))}, RSS growth {growth} KiB")
    finally:
        assert process.stop() == 0
