#!/usr/bin/env python3
"""A short RL-style training loop against a live moppsd, on synthetic prompts with hidden success rates.

Each step the "trainer" draws 8 x B candidate prompts (as the MoPPS reference does), asks moppsd for
the B most informative ones, "rolls out" k attempts per prompt (Bernoulli with the prompt's hidden
success rate), and reports the successes. A second pool with the uniform strategy sees the same
candidates and rewards, as the baseline. Printed every few steps:

  mixed      share of chosen prompts whose k rollouts were neither all-correct nor all-wrong: only
             those give GRPO a learning signal
  |p-0.5|    mean distance of the chosen prompts' true rates from 0.5
  post.err   mean |posterior mean - true rate| over prompts rolled out at least twice
  spearman   rank correlation of posterior means with true rates over those prompts

Run it with `make demo` (builds moppsd, then runs this). Options: --steps, --prompts, --batch, --seed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
import mopps  # noqa: E402


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--prompts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress lines appear as they happen, also when piped

    rng = np.random.default_rng(args.seed)
    n, b, k = args.prompts, args.batch, args.rollouts
    # Hidden difficulty: many prompts the policy always fails or always solves, some in between.
    kind = rng.choice(3, size=n, p=[0.4, 0.3, 0.3])
    true_rate = np.where(kind == 0, rng.beta(0.3, 6, n), np.where(kind == 1, rng.beta(6, 0.3, n), rng.beta(2, 2, n)))
    ids = np.arange(n, dtype=np.uint64)

    print(f"moppsd demo: {n} prompts, batch {b}, {8 * b} candidates a step, {k} rollouts per prompt")
    print(f"  hidden success rates: {np.mean(true_rate < 0.05):.0%} below 0.05, "
          f"{np.mean(true_rate > 0.95):.0%} above 0.95, {np.mean(np.abs(true_rate - 0.5) < 0.3):.0%} in (0.2, 0.8)")
    with mopps.launch() as client:
        print(f"  started {mopps.find_moppsd()} on {client.endpoint}")
        client.create_pool("mopps", decay=1.0, seed=args.seed)
        client.create_pool("uniform", strategy="uniform", seed=args.seed)
        for pool in ("mopps", "uniform"):
            client.register(pool, ids)
        visits = np.zeros(n, dtype=int)
        latencies = []
        totals = {"mopps": [0, 0], "uniform": [0, 0]}  # mixed groups, groups
        print(f"\n{'step':>5} {'mixed':>14} {'|p-0.5|':>14} {'post.err':>9} {'spearman':>9}")
        print(f"{'':>5} {'mopps  unif':>14} {'mopps  unif':>14}")
        for step in range(1, args.steps + 1):
            candidates = rng.choice(n, size=8 * b, replace=False).astype(np.uint64)
            row = {}
            for pool in ("mopps", "uniform"):
                t0 = time.perf_counter()
                chosen = client.select(pool, b, candidates=candidates).ids
                latencies.append(time.perf_counter() - t0)
                p = true_rate[chosen.astype(int)]
                successes = rng.binomial(k, p)
                client.update(pool, chosen, successes.astype(float), rollouts=k, request_id=f"{pool}-{step}")
                mixed = np.mean((successes > 0) & (successes < k))
                totals[pool][0] += int(np.sum((successes > 0) & (successes < k)))
                totals[pool][1] += b
                row[pool] = (mixed, float(np.mean(np.abs(p - 0.5))))
                if pool == "mopps":
                    visits[chosen.astype(int)] += 1
            if step % 5 == 0 or step == 1:
                post = client.get("mopps")
                seen = visits >= 2
                err = float(np.mean(np.abs(post.means[seen] - true_rate[seen]))) if seen.any() else float("nan")
                rho = spearman(post.means[seen], true_rate[seen]) if seen.sum() > 2 else float("nan")
                print(f"{step:>5} {row['mopps'][0]:>6.0%} {row['uniform'][0]:>6.0%} "
                      f"{row['mopps'][1]:>6.2f} {row['uniform'][1]:>6.2f} {err:>9.3f} {rho:>9.2f}")
        m, u = totals["mopps"], totals["uniform"]
        lat = np.array(latencies) * 1e6
        print(f"\nGroups with a learning signal: MoPPS {m[0] / m[1]:.0%}, uniform {u[0] / u[1]:.0%} "
              f"({m[0] / max(u[0], 1):.2f}x as many from the same rollout budget).")
        print(f"Select round trip from Python (M={8 * b}, B={b}): p50 {np.percentile(lat, 50):.0f} us, "
              f"p99 {np.percentile(lat, 99):.0f} us over {len(lat)} calls.")
        stats = client.stats()
        print(f"Server handled {stats['requests']} requests; stopping moppsd.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
