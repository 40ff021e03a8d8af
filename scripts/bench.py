#!/usr/bin/env python3
"""`make bench`: engine benchmarks next to their baselines, in one invocation.

Runs `moppsd bench` (in-process Swift engine measurements), then, in this process:
- numpy `Generator.beta` on the same shapes (M = 4,096 per call), the sampler's baseline;
- a faithful Python re-implementation of the reference's per-prompt dictionary sampler (DESIGN §2:
  {id: [alpha, beta]}, numpy Beta samples, nearest-to-target batch) for Select (M = 4,096, B = 256)
  and Update (256), the engine's baseline.
Writes every number to --out (bench-results.json) and prints a table with the ratios, since absolute
times on a shared machine drift. Exits 1 when the Swift sampler is below 3x numpy (the sign that a
toolchain change lost the SIMD vectorisation), or when moppsd fails.

    MOPPSD=.build/release/moppsd python3 scripts/bench.py --out bench-results.json [--quick] [--skip-10m]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "clients" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import mopps  # noqa: E402
from reference_sampler import ReferenceSampler  # noqa: E402

MIN_SAMPLER_RATIO = 3.0


def median_seconds(fn, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_shapes(m: int, small: bool = False):
    """The same shapes as EngineBenchmarks.benchShapes / smallShapes in Swift."""
    i = np.arange(m)
    if small:
        return 0.05 + 0.95 * ((i * 7) % 50) / 49, 0.05 + 0.95 * ((i * 13) % 50) / 49
    return 1.0 + (i * 7) % 50, 1.0 + (i * 13) % 50


def numpy_beta_msamples(quick: bool, small: bool = False) -> float:
    m = 4096
    a, b = bench_shapes(m, small)
    rng = np.random.default_rng(1)
    per_call = median_seconds(lambda: [rng.beta(a, b) for _ in range(16)], runs=21 if quick else 61)
    return 16 * m / per_call / 1e6


def reference_timings(quick: bool, pool_size: int = 40_000):
    rng = np.random.default_rng(3)
    ref = ReferenceSampler(seed=1)
    ids = np.arange(pool_size)
    ref.train(ids, rng.integers(0, 9, size=pool_size), np.full(pool_size, 8))
    sets = [rng.choice(pool_size, size=4096, replace=False) for _ in range(16)]
    counter = iter(range(10**9))
    select = median_seconds(lambda: ref.sample_batch(sets[next(counter) % 16], 256), runs=51 if quick else 301)
    upd_ids = [rng.choice(pool_size, size=256, replace=False) for _ in range(16)]
    succ = rng.integers(0, 9, size=256)
    trials = np.full(256, 8)
    counter2 = iter(range(10**9))
    update = median_seconds(lambda: ref.train(upd_ids[next(counter2) % 16], succ, trials), runs=51 if quick else 301)
    return select * 1e3, update * 1e3


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench-results.json")
    p.add_argument("--quick", action="store_true", help="fewer repetitions")
    p.add_argument("--skip-10m", action="store_true", help="skip the 10 M prompt pool")
    args = p.parse_args()

    binary = mopps.find_moppsd()
    print(f"moppsd: {binary}", flush=True)
    with tempfile.NamedTemporaryFile(suffix=".json") as tmp:
        cmd = [binary, "bench", "--json", tmp.name] + (["--quick"] if args.quick else []) + (
            ["--skip-10m"] if args.skip_10m else [])
        subprocess.run(cmd, check=True)
        results = json.loads(Path(tmp.name).read_text())

    print("numpy and reference baselines ...", flush=True)
    results["beta_msamples_per_s_numpy"] = numpy_beta_msamples(args.quick)
    results["beta_msamples_per_s_numpy_small_shapes"] = numpy_beta_msamples(args.quick, small=True)
    results["ref_select_ms_m4096_b256"], results["ref_update_ms_256"] = reference_timings(args.quick)
    results["ratio_beta_swift_over_numpy"] = results["beta_msamples_per_s_swift"] / results["beta_msamples_per_s_numpy"]
    results["ratio_beta_swift_over_numpy_small_shapes"] = (
        results["beta_msamples_per_s_swift_small_shapes"] / results["beta_msamples_per_s_numpy_small_shapes"])
    results["ratio_select_ref_over_engine"] = results["ref_select_ms_m4096_b256"] * 1e3 / results["engine_select_us_m4096_b256"]
    results["ratio_select_ref_over_engine_index_ids"] = (
        results["ref_select_ms_m4096_b256"] * 1e3 / results["engine_select_us_m4096_b256_index_ids"])
    results["ratio_update_ref_over_engine"] = results["ref_update_ms_256"] * 1e3 / results["engine_update_us_256"]
    results["machine"] = {"cpus": os.cpu_count(), "numpy": np.__version__, "moppsd": binary}
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")

    r = results
    rows = [
        ("Beta sampling, shapes [1,50]", f"{r['beta_msamples_per_s_swift']:.1f} M/s",
         f"numpy {r['beta_msamples_per_s_numpy']:.1f} M/s", f"{r['ratio_beta_swift_over_numpy']:.1f}x"),
        ("Beta sampling, shapes [0.05,1]", f"{r['beta_msamples_per_s_swift_small_shapes']:.1f} M/s",
         f"numpy {r['beta_msamples_per_s_numpy_small_shapes']:.1f} M/s", f"{r['ratio_beta_swift_over_numpy_small_shapes']:.1f}x"),
        ("Select M=4096 B=256", f"{r['engine_select_us_m4096_b256']:.1f} us",
         f"reference {r['ref_select_ms_m4096_b256']:.2f} ms", f"{r['ratio_select_ref_over_engine']:.0f}x"),
        ("Select M=4096 B=256, index ids", f"{r['engine_select_us_m4096_b256_index_ids']:.1f} us",
         f"reference {r['ref_select_ms_m4096_b256']:.2f} ms", f"{r['ratio_select_ref_over_engine_index_ids']:.0f}x"),
        ("Select M=512 B=256, index ids", f"{r['engine_select_us_m512_b256_index_ids']:.1f} us", "", ""),
        ("Update 256", f"{r['engine_update_us_256']:.1f} us",
         f"reference {r['ref_update_ms_256']:.3f} ms", f"{r['ratio_update_ref_over_engine']:.0f}x"),
        ("Whole-pool select 1M, B=256", f"{r['wholepool_select_ms_1m']:.1f} ms", "", ""),
    ]
    if "wholepool_select_ms_10m" in r:
        rows.append(("Whole-pool select 10M, B=256", f"{r['wholepool_select_ms_10m']:.1f} ms", "target 40 ms", ""))
        rows.append(("Memory at 10M prompts", f"{r['bytes_per_prompt']:.1f} B/prompt", "target 24", ""))
    print()
    print(f"{'measurement':<32} {'moppsd':>16} {'baseline':>24} {'ratio':>7}")
    for row in rows:
        print(f"{row[0]:<32} {row[1]:>16} {row[2]:>24} {row[3]:>7}")
    variants = [v for v in ("baseline", "avx2", "avx512") if f"beta_msamples_per_s_swift_{v}" in r]
    if variants:
        print(f"\nper kernel variant, side by side in this run (default: {r.get('kernel', '?')}):")
        print(f"{'variant':<10} {'Beta M/s':>9} {'vs numpy':>9} {'small M/s':>10} {'sample us':>10} "
              f"{'select us':>10} {'/sampling':>10} {'index us':>9} {'/sampling':>10} {'beyond ns/cand':>15} "
              f"{'whole 1M ms':>12}")
        for v in variants:
            r[f"ratio_beta_swift_over_numpy_{v}"] = r[f"beta_msamples_per_s_swift_{v}"] / r["beta_msamples_per_s_numpy"]
            print(f"{v:<10} {r[f'beta_msamples_per_s_swift_{v}']:>9.1f} {r[f'ratio_beta_swift_over_numpy_{v}']:>8.1f}x "
                  f"{r[f'beta_msamples_per_s_swift_small_shapes_{v}']:>10.1f} {r[f'sample_us_m4096_{v}']:>10.1f} "
                  f"{r[f'engine_select_us_m4096_b256_{v}']:>10.1f} {r[f'select_over_sampling_{v}']:>9.2f}x "
                  f"{r[f'engine_select_us_m4096_b256_index_ids_{v}']:>9.1f} "
                  f"{r[f'select_over_sampling_index_ids_{v}']:>9.2f}x "
                  f"{r[f'select_beyond_sampling_ns_per_candidate_{v}']:>7.2f}/"
                  f"{r[f'select_beyond_sampling_ns_per_candidate_index_ids_{v}']:<7.2f} "
                  f"{r[f'wholepool_select_ms_1m_{v}']:>12.2f}")
        print("beyond ns/cand: what a select costs beyond sampling its candidates, per candidate "
              "(scattered / dataset-index ids); it does not shrink as the sampler gets wider")
        best = r.get("kernel", variants[-1])
        r["ratio_beta_default_over_forced_best"] = r["beta_msamples_per_s_swift"] / r[f"beta_msamples_per_s_swift_{best}"]
        print(f"default build, its own choice vs forced {best}: {r['ratio_beta_default_over_forced_best']:.2f}x Beta speed")
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    strategies = [s for s in ("dps", "greso", "pools") if f"strategy_update_us_256_{s}" in r]
    if strategies:
        print("\nstrategies with their own state (pool of 40,000; whole-pool over 1M; every one supports "
              "whole-pool):")
        print(f"{'strategy':<10} {'select us':>10} {'update us':>10} {'select+update us':>17} {'whole 1M ms':>12}")
        for s in strategies:
            print(f"{s:<10} {r[f'strategy_select_us_m4096_b256_{s}']:>10.1f} {r[f'strategy_update_us_256_{s}']:>10.1f} "
                  f"{r[f'strategy_select_update_us_{s}']:>17.1f} {r[f'strategy_wholepool_select_ms_1m_{s}']:>12.1f}")
        replay = [k for k in (0, 1, 10, 100) if f"dps_replay_wholepool_ms_1m_k{k}" in r]
        if replay:
            print("dps lazy replay, whole-pool select over 1M observed prompts (decay 0.7) after k unread steps: " + ", ".join(
                f"k={k}: {r[f'dps_replay_wholepool_ms_1m_k{k}']:.0f} ms" for k in replay))
    print(f"\nwrote {args.out}")
    if r["ratio_beta_swift_over_numpy"] < MIN_SAMPLER_RATIO:
        print(f"\nFAIL: the Swift Beta sampler is only {r['ratio_beta_swift_over_numpy']:.1f}x numpy "
              f"(< {MIN_SAMPLER_RATIO}x): vectorisation was probably lost (compiler flags or toolchain)."
              " Build with `make build` and check the sampler kernel.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
