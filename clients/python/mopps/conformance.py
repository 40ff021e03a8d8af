"""The conformance program: the same request sequence in every client language, byte-identical output.

    python -m mopps.conformance --endpoint E --pool P --seed S --prompts K --batch B --steps N

Creates pool P (prior Beta(1, 1), decay 0.5, strategy topk, seed S), registers ids 0..K-1, then for
each step t = 0..N-1 selects B prompts from 8·B candidates drawn by the server, prints
``step t: <ids in reply order>`` and updates those ids with (7·id + t) mod 9 successes of 8 trials.
Then prints ``posterior i: <alpha> <beta>`` for i < min(K, 5), and the status code name of three
requests the server must refuse (batch size 0, 9 successes of 8 trials, a pool that does not
exist). The draws depend only on the seed and the request sequence, so the C, C++, Rust and Swift
versions (clients/README.md) print the same bytes against any moppsd; `make test` diffs them.

Optional, in every language: ``--timeout-ms T`` (per attempt, default 5000), ``--server-key K``
(the server's CURVE public key; a fresh client key pair), and ``--bench-select R``: instead of the
program, R timed Selects of B from the K ids given as candidates; prints the round-trip p50 in µs
(scripts/bench-clients.sh).

Posteriors are printed as float32 (the server's store type) in the shortest decimal form that reads
back to the same float32, positional (no exponent), without trailing zeros or a trailing point:
``1``, ``4.5``, ``0.3``, ``1024``. This is numpy's ``format_float_positional(unique=True,
trim='-')``; clients/README.md states the rule for the other languages.

>>> main(["--endpoint", "ipc:///tmp/m.sock", "--pool", "conf-py", "--seed", "7",
...       "--prompts", "64", "--batch", "4", "--steps", "3"])         # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, List, Optional, Sequence

import numpy as np

# The public names only (mopps/__init__.py): this program is what any user could write.
from . import Client, RpcError

SUCCESS_TRIALS = 8


def format_float32(value: float) -> str:
    """The shortest positional decimal that reads back to ``float32(value)``: ``1``, ``4.5``."""
    return np.format_float_positional(np.float32(value), unique=True, trim="-")


def successes_for(ids: np.ndarray, step: int) -> np.ndarray:
    """(7·id + step) mod 9 successes for each id (of 8 trials)."""
    return ((7 * ids.astype(np.uint64) + np.uint64(step)) % np.uint64(9)).astype(np.float64)


def _code(call: Callable[[], object]) -> str:
    try:
        call()
    except RpcError as e:
        return e.code.name
    return "OK"


def run(client: Client, pool: str, seed: int, prompts: int, batch: int, steps: int) -> List[str]:
    """The program's output lines (without newlines)."""
    lines: List[str] = []
    client.create_pool(pool, prior_alpha=1.0, prior_beta=1.0, decay=0.5, strategy="topk", seed=seed)
    client.register(pool, np.arange(prompts, dtype=np.uint64))
    for t in range(steps):
        chosen = client.select(pool, batch, candidate_count=8 * batch)
        lines.append(f"step {t}: " + " ".join(str(int(i)) for i in chosen.ids))
        client.update(pool, chosen.ids, successes_for(chosen.ids, t), trials=np.full(len(chosen.ids), SUCCESS_TRIALS))
    shown = np.arange(min(prompts, 5), dtype=np.uint64)
    posteriors = client.get(pool, shown)
    for i, a, b in zip(shown, posteriors.alpha, posteriors.beta):
        lines.append(f"posterior {int(i)}: {format_float32(a)} {format_float32(b)}")
    lines.append("invalid batch_size 0: " + _code(lambda: client.select(pool, 0, candidate_count=8)))
    lines.append("invalid successes 9 of 8: " + _code(
        lambda: client.update(pool, np.array([0], dtype=np.uint64), np.array([9.0]), trials=np.array([8]))))
    lines.append("invalid unknown pool: " + _code(lambda: client.get(pool + "-missing", np.array([0], dtype=np.uint64))))
    return lines


def bench_select(client: Client, pool: str, seed: int, prompts: int, batch: int, reps: int) -> float:
    """Median round trip (µs) of Selects of ``batch`` from ``prompts`` client-given candidates."""
    client.create_pool(pool, seed=seed)
    candidates = np.arange(prompts, dtype=np.uint64)
    times = []
    for i in range(reps + max(1, reps // 10)):  # the first tenth warms up
        start = time.perf_counter_ns()
        client.select(pool, batch, candidates)
        times.append(time.perf_counter_ns() - start)
    timed = sorted(times[max(1, reps // 10):])
    return timed[len(timed) // 2] / 1000.0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mopps.conformance", description=__doc__.split("\n")[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--prompts", type=int, required=True)
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--timeout-ms", type=int, default=5000)
    parser.add_argument("--server-key", default=None)
    parser.add_argument("--bench-select", type=int, default=0, metavar="R")
    args = parser.parse_args(argv)
    try:
        with Client(args.endpoint, timeout=args.timeout_ms / 1000.0, server_key=args.server_key) as client:
            if args.bench_select:
                p50 = bench_select(client, args.pool, args.seed, args.prompts, args.batch, args.bench_select)
                print(f"select p50 us: {p50:.1f}")
                return 0
            lines = run(client, args.pool, args.seed, args.prompts, args.batch, args.steps)
    except RpcError as e:
        print(f"mopps-conformance: {e.code}: {e.message}", file=sys.stderr)
        return 1
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
