"""Command line: trains every (strategy, seed), keeps each run's record as JSON, writes the report.

    python -m evidence_real [--quick] [--strategies uniform,dynamic-sampling,mopps-topk,dps,greso,pools]
                            [--seeds 0,1,2] [--budget 9600] [--out evidence-real-out]
                            [--report docs/evidence-real.md] [--plots-dir docs/evidence-real] [--jobs 2]

A record already in ``<out>/runs`` with the same settings is reused (a long run interrupted by a
busy machine continues where it stopped); ``--fresh`` retrains everything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict, replace
from typing import Any, Dict, List, Optional

from .run import RunConfig, run_one
from .strategies import STRATEGIES
from .task import starting_policy


def parse(argv: Optional[List[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m evidence_real", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one seed, a few steps, a small SFT: checks the harness")
    ap.add_argument("--strategies", default=",".join(STRATEGIES),
                    help=f"comma-separated, from {', '.join(STRATEGIES)} (default: all)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--budget", type=int, default=None, help="rollouts per run")
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--learning-rate", type=float, default=None)
    ap.add_argument("--sft-steps", type=int, default=None)
    ap.add_argument("--target", type=float, default=None, help="absolute held-out accuracy (default: relative)")
    ap.add_argument("--out", default="evidence-real-out", help="policy cache and run records (outside git)")
    ap.add_argument("--report", default=None, help="markdown path (default <out>/evidence-real.md)")
    ap.add_argument("--plots-dir", default=None, help="default <out>/plots")
    ap.add_argument("--fresh", action="store_true", help="ignore stored run records")
    ap.add_argument("--jobs", type=int, default=1, help="runs trained at once, one process each (default 1)")
    return ap.parse_args(argv)


def _train_and_store(name: str, seed: int, path: str, config: RunConfig, policy: str, out: str) -> Dict[str, Any]:
    """Trains one (strategy, seed), writes its record to ``path`` and returns it."""
    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    record = run_one(STRATEGIES[name], config, seed=seed, policy_dir=policy, work_dir=out)
    record["policy"] = policy
    record["wall_seconds"] = time.perf_counter() - started
    with open(path, "w", encoding="utf-8") as f:
        json.dump(record, f)
    print(f"{name} seed {seed}: {len(record['steps'])} steps, accuracy {record['evals'][0]['accuracy']:.3f} -> "
          f"{record['evals'][-1]['accuracy']:.3f}, {record['wall_seconds']:.0f} s", flush=True)
    return record


def main(argv: Optional[List[str]] = None) -> int:
    args = parse(argv)
    if args.jobs < 1:
        print(f"--jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    names = [s for s in args.strategies.split(",") if s]
    unknown = [n for n in names if n not in STRATEGIES]
    if unknown:
        print(f"unknown strategies {unknown}; known: {', '.join(STRATEGIES)}", file=sys.stderr)
        return 2
    if args.quick:
        config = RunConfig(train_prompts=200, test_prompts=60, budget=64 * 4, eval_every=2, eval_samples=2)
        seeds, sft_steps = [0], 150
    else:
        config, seeds, sft_steps = RunConfig(), [int(s) for s in args.seeds.split(",")], 3000
    overrides: Dict[str, Any] = {k: v for k, v in (("budget", args.budget), ("eval_every", args.eval_every),
                                                   ("learning_rate", args.learning_rate)) if v is not None}
    config = replace(config, **overrides)
    sft_steps = args.sft_steps or sft_steps
    os.makedirs(os.path.join(args.out, "runs"), exist_ok=True)
    import torch

    torch.set_num_threads(1)
    policy = starting_policy(args.out, sft_steps=sft_steps)
    with open(os.path.join(policy, "sft.json"), encoding="utf-8") as f:
        sft = json.load(f)
    stored: Dict[tuple, Dict[str, Any]] = {}
    todo: List[tuple] = []
    for seed in seeds:  # seed-major: an interrupted run still has every strategy for the first seeds
        for name in names:
            path = os.path.join(args.out, "runs", f"{name}-s{seed}.json")
            if not args.fresh and os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    record = json.load(f)
                if (record["config"] == asdict(config) and record["strategy"] == asdict(STRATEGIES[name])
                        and record.get("policy") == policy):
                    stored[(name, seed)] = record
                    continue
            todo.append((name, seed, path))
    jobs = [(name, seed, path, config, policy, args.out) for name, seed, path in todo]
    if args.jobs > 1 and len(jobs) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # Each run is a process of its own (torch on one thread, its own moppsd): on a 2-core
        # machine two of them take about half the wall time of one after the other.
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = {pool.submit(_train_and_store, *job): job for job in jobs}
            for future in as_completed(futures):
                name, seed = futures[future][:2]
                stored[(name, seed)] = future.result()
    else:
        for job in jobs:
            stored[job[:2]] = _train_and_store(*job)
    records: Dict[str, List[Dict[str, Any]]] = {n: [stored[(n, s)] for s in seeds] for n in names}
    from importlib.metadata import version

    from .report import write_report

    command = "make evidence-real" if not args.quick else "python -m evidence_real --quick"
    meta = {"command": command, "seconds": time.perf_counter() - t0, "host": f"{os.cpu_count()} vCPU {platform.machine()}",
            "trl": version("trl"), "transformers": version("transformers"), "torch": version("torch"),
            "sft": sft, "seeds": seeds, "jobs": args.jobs,
            "runs_seconds": sum(r.get("wall_seconds", r["seconds"]) for runs in records.values() for r in runs)}
    report = args.report or os.path.join(args.out, "evidence-real.md")
    write_report(records, out_md=report, plots_dir=args.plots_dir or os.path.join(args.out, "plots"), meta=meta,
                 target=args.target)
    print(f"wrote {report} in {meta['seconds']:.0f} s")
    return 0
