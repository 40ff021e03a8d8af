"""``python -m mopps.sim`` / ``mopps-sim``: the sweep behind ``make demo`` and ``make evidence``."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..client import Client
from ..launch import launch
from .report import Results, Summary, Timings, format_table, plot, summarize, write_csv, write_report
from .task import DECAY_STRATEGIES, SCENARIOS, STRATEGIES, TaskConfig, run, scenario

_DESCRIPTION = ("A synthetic RLVR task that measures what prompt selection saves: every strategy moppsd serves, "
                "against a live moppsd, next to uniform, dynamic sampling, GRESO + dynamic sampling and the oracle.")


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="mopps-sim", description=_DESCRIPTION)
    p.add_argument("--quick", action="store_true", help="one seed, λ = 1, 250 steps, stationary (about a minute)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--decays", default="1", help="comma-separated λ values for mopps-topk, mopps-threshold, dps")
    p.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated; default: all")
    p.add_argument("--scenarios", default="stationary", help=f"comma-separated of {', '.join(SCENARIOS)}")
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--prompts", type=int, default=None)
    p.add_argument("--max-num-gen-batches", type=int, default=None, help="dynamic sampling's cap (default 10)")
    p.add_argument("--jump-at", type=int, default=-1, help="step of a skill jump (non-stationarity)")
    p.add_argument("--jump", type=float, default=0.0, help="size of the skill jump")
    p.add_argument("--endpoint", default=None, help="a running moppsd; default: start one")
    p.add_argument("--out", default="sim-out", help="folder for CSVs, plots and summary.md")
    p.add_argument("--report", default=None, help="also write a Markdown report here (docs/evidence.md)")
    p.add_argument("--plots-dir", default=None, help="folder for the PNG plots (default: --out)")
    args = p.parse_args(argv)

    seeds = [int(s) for s in args.seeds.split(",")]
    decays = [float(d) for d in args.decays.split(",")]
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in SCENARIOS:
            p.error(f"unknown scenario {s!r}; one of {', '.join(SCENARIOS)}")
    overrides: Dict[str, object] = {"jump_at": args.jump_at, "jump": args.jump}
    if args.quick:
        seeds, decays = seeds[:1], decays[:1]
        overrides["steps"] = 250
    if args.steps:
        overrides["steps"] = args.steps
    if args.prompts:
        overrides["prompts"] = args.prompts
    if args.max_num_gen_batches:
        overrides["max_num_gen_batches"] = args.max_num_gen_batches
    configs: Dict[str, TaskConfig] = {}
    for s in scenarios:
        cfg = scenario(s, **overrides)
        cfg.drift_at = min(cfg.drift_at, cfg.steps // 2)
        configs[s] = cfg
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for s in strategies:
        if s not in STRATEGIES:
            p.error(f"unknown strategy {s!r}; one of {', '.join(STRATEGIES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    runs: List[Tuple[str, Optional[float]]] = []
    for s in strategies:
        for d in (decays if s in DECAY_STRATEGIES else [None]):
            runs.append((s, d))
    total = sum(len(runs) * len(seeds) * c.steps for c in configs.values())
    done = [0]
    started = time.monotonic()

    shown = [-1]

    def progress(_step: int) -> None:
        done[0] += 1
        percent = 100 * done[0] // total
        if percent != shown[0]:
            shown[0] = percent
            width = 30
            filled = int(width * done[0] / total)
            eta = (time.monotonic() - started) / done[0] * (total - done[0])
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done[0]}/{total} steps, ~{eta:4.0f} s left")
            sys.stderr.flush()

    def sweep(client: Client) -> Tuple[Dict[str, Results], Dict[str, Timings]]:
        results: Dict[str, Results] = {}
        timings: Dict[str, Timings] = {}
        for scen, cfg in configs.items():
            res: Results = {}
            tim: Timings = {}
            for strategy, decay in runs:
                label = strategy if decay is None else f"{strategy} λ={decay:g}"
                for seed in seeds:
                    t: List[float] = []
                    rows = run(strategy, cfg, seed, client=client, decay=decay if decay is not None else 1.0,
                               progress=progress, timings=t)
                    name = label.replace(" ", "_").replace("λ=", "decay")
                    write_csv(out / f"{scen}_{name}_seed{seed}.csv", rows)
                    res.setdefault(label, []).append(rows)
                    tim.setdefault(label, []).append(t)
            results[scen], timings[scen] = res, tim
        return results, timings

    if args.endpoint:
        with Client(args.endpoint, timeout=30) as client:
            results, timings = sweep(client)
    else:
        with launch(extra_args=["--no-persistence"]) as client:
            results, timings = sweep(client)
    elapsed = time.monotonic() - started
    sys.stderr.write("\n")
    plots_dir = Path(args.plots_dir) if args.plots_dir else out
    plots_dir.mkdir(parents=True, exist_ok=True)
    tables: Dict[str, List[Summary]] = {}
    texts: Dict[str, str] = {}
    plots: Dict[str, Path] = {}
    summary = []
    for scen, cfg in configs.items():
        tables[scen] = summarize(results[scen], cfg.target_accuracy, timings[scen])
        texts[scen] = format_table(tables[scen], cfg.target_accuracy)
        plots[scen] = plot(results[scen], plots_dir, cfg.target_accuracy, scen, tables[scen])
        summary += [f"## {scen}", "", texts[scen], ""]
    (out / "summary.md").write_text("\n".join(summary))
    first = next(iter(configs.values()))
    print(f"\n{len(seeds)} seed(s), {first.prompts} prompts, batch {first.batch} × {first.rollouts} rollouts, "
          f"{first.ts_ratio}× candidates; {elapsed:.0f} s.\n")
    for scen, cfg in configs.items():
        print(f"{scen} ({cfg.steps} steps, target accuracy {cfg.target_accuracy}):\n{texts[scen]}\n")
    print(f"CSV per run and summary.md in {out}/; plots: " + ", ".join(str(p) for p in plots.values()))
    if args.report:
        command = "python -m mopps.sim " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        write_report(Path(args.report), tables, configs, seeds, decays, plots, texts, elapsed, command, results)
        print(f"report: {args.report}")
    return 0
