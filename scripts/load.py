#!/usr/bin/env python3
"""`make load`: several client processes mix Select/Update/Get against one moppsd for a fixed time.

Checks that no request went unanswered and that the final posteriors equal the exact sums of every
acknowledged update (λ = 1, integer successes), then reports throughput and p50/p99/p999 per
operation. Select: 256 candidates, B = 32; Update: 16 prompts × 8 rollouts; Get: 64 prompts.

    MOPPSD=.build/release/moppsd python3 scripts/load.py --clients 8 --seconds 20
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
import mopps  # noqa: E402

POOL_SIZE = 10_000


def worker(endpoint, seconds, seed, queue):
    rng = np.random.default_rng(seed)
    lat = {"select": [], "update": [], "get": []}
    succ = np.zeros(POOL_SIZE)
    fail = np.zeros(POOL_SIZE)
    lost = 0
    with mopps.Client(endpoint, timeout=10, retries=0) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            op = rng.random()
            t0 = time.perf_counter_ns()
            try:
                if op < 0.5:
                    c.select("load", 32, candidates=rng.choice(POOL_SIZE, 256, replace=False))
                    kind = "select"
                elif op < 0.8:
                    ids = rng.choice(POOL_SIZE, 16, replace=False)
                    s = rng.integers(0, 9, 16)
                    c.update("load", ids, s.astype(float), rollouts=8)
                    succ[ids] += s
                    fail[ids] += 8 - s
                    kind = "update"
                else:
                    c.get("load", rng.choice(POOL_SIZE, 64, replace=False))
                    kind = "get"
            except mopps.Unavailable:
                lost += 1
                continue
            lat[kind].append(time.perf_counter_ns() - t0)
    queue.put((lat, succ, fail, lost))


def run(endpoint, clients, seconds):
    c = mopps.Client(endpoint)
    c.create_pool("load", decay=1.0, seed=1)
    c.register("load", np.arange(POOL_SIZE))
    queue = mp.get_context("fork").Queue()
    procs = [mp.get_context("fork").Process(target=worker, args=(endpoint, seconds, k, queue)) for k in range(clients)]
    started = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - started
    lat = {k: np.concatenate([np.asarray(r[0][k], dtype=float) for r in results]) / 1e3 for k in ("select", "update", "get")}
    succ = sum(r[1] for r in results)
    fail = sum(r[2] for r in results)
    lost = sum(r[3] for r in results)
    post = c.get("load", np.arange(POOL_SIZE))
    exact = bool(np.array_equal(post.alpha, 1 + succ) and np.array_equal(post.beta, 1 + fail))
    c.close()
    total = sum(len(v) for v in lat.values())
    return {"elapsed": elapsed, "requests": total, "throughput": total / elapsed, "lost": lost, "exact": exact,
            "latency": {k: (len(v), *np.percentile(v, [50, 99, 99.9])) for k, v in lat.items() if len(v)}}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--fsync", default="batch")
    args = p.parse_args()
    state = tempfile.mkdtemp(prefix="mopps-load-")
    process = mopps.start(state_dir=state, extra_args=["--fsync", args.fsync])
    try:
        r = run(process.listen, args.clients, args.seconds)
    finally:
        process.stop()
    print(f"{args.clients} client processes, {r['elapsed']:.1f} s, fsync {args.fsync}: {r['requests']} requests, "
          f"{r['throughput']:.0f} req/s, {r['lost']} lost replies, final posteriors exact: {r['exact']}")
    print(f"{'op':<8} {'count':>8} {'p50 us':>9} {'p99 us':>9} {'p99.9 us':>9}")
    for k, (n, p50, p99, p999) in r["latency"].items():
        print(f"{k:<8} {n:>8} {p50:>9.0f} {p99:>9.0f} {p999:>9.0f}")
    return 0 if r["lost"] == 0 and r["exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
