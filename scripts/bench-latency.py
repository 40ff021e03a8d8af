#!/usr/bin/env python3
"""Python -> moppsd Select/Update round-trip latency over ipc and tcp.

Starts the moppsd given by $MOPPSD (default: the release build), creates a pool of --pool-size
prompts, and times --calls Select requests (M candidates, B chosen; candidates change every call) and
Update requests (B outcomes), after --warmup untimed calls. Prints p50/p90/p99 in microseconds.

    MOPPSD=.build/release/moppsd python3 scripts/bench-latency.py --calls 2000
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
import mopps  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(endpoint_kind: str, args) -> dict:
    state = tempfile.mkdtemp(prefix="mopps-bench-")
    listen = f"ipc://{state}/moppsd.sock" if endpoint_kind == "ipc" else f"tcp://127.0.0.1:{free_port()}"
    process = mopps.start(state_dir=state, listen=listen)
    rng = np.random.default_rng(0)
    try:
        with mopps.Client(process.listen) as c:
            c.create_pool("bench", seed=1)
            ids = np.arange(args.pool_size, dtype=np.uint64)
            c.register("bench", ids)
            sel_t, upd_t = [], []
            for i in range(args.warmup + args.calls):
                cand = rng.choice(args.pool_size, size=args.m, replace=False).astype(np.uint64)
                t0 = time.perf_counter_ns()
                chosen = c.select("bench", args.b, candidates=cand).ids
                t1 = time.perf_counter_ns()
                c.update("bench", chosen, rng.integers(0, 9, size=args.b).astype(float), rollouts=8)
                t2 = time.perf_counter_ns()
                if i >= args.warmup:
                    sel_t.append((t1 - t0) / 1e3)
                    upd_t.append((t2 - t1) / 1e3)
    finally:
        process.stop()
    pct = lambda xs, q: float(np.percentile(xs, q))  # noqa: E731
    return {
        "transport": endpoint_kind,
        "select": {q: pct(sel_t, q) for q in (50, 90, 99)},
        "update": {q: pct(upd_t, q) for q in (50, 90, 99)},
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--m", type=int, default=4096, help="candidates per Select")
    p.add_argument("--b", type=int, default=256, help="batch size")
    p.add_argument("--pool-size", type=int, default=40_000)
    p.add_argument("--calls", type=int, default=2000)
    p.add_argument("--warmup", type=int, default=200)
    args = p.parse_args()
    print(f"moppsd: {mopps.find_moppsd()}  M={args.m} B={args.b} pool={args.pool_size} calls={args.calls}")
    print(f"{'transport':<10} {'op':<7} {'p50 us':>8} {'p90 us':>8} {'p99 us':>8}")
    for kind in ("ipc", "tcp"):
        r = run(kind, args)
        for op in ("select", "update"):
            q = r[op]
            print(f"{kind:<10} {op:<7} {q[50]:>8.0f} {q[90]:>8.0f} {q[99]:>8.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
