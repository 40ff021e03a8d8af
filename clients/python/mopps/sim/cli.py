"""``python -m mopps.sim`` / ``mopps-sim``: the sweep behind ``make demo`` and ``make evidence``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ..client import Client
from ..launch import launch
from .report import Results, format_table, plot, summarize, write_csv, write_report
from .task import STRATEGIES, TaskConfig, run

_DESCRIPTION = "A synthetic RLVR task that measures what prompt selection saves, against a live moppsd."


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="mopps-sim", description=_DESCRIPTION)
    p.add_argument("--quick", action="store_true", help="one seed, λ = 1, fewer steps (about half a minute)")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--decays", default="1", help="comma-separated λ values for the MoPPS runs")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--prompts", type=int, default=None)
    p.add_argument("--jump-at", type=int, default=-1, help="step of a skill jump (non-stationarity)")
    p.add_argument("--jump", type=float, default=0.0, help="size of the skill jump")
    p.add_argument("--endpoint", default=None, help="a running moppsd; default: start one")
    p.add_argument("--out", default="sim-out", help="folder for CSVs, plots and summary.md")
    p.add_argument("--report", default=None, help="also write a Markdown report here (docs/evidence.md)")
    p.add_argument("--plots-dir", default=None, help="folder for the PNG plots (default: --out)")
    args = p.parse_args(argv)

    config = TaskConfig(jump_at=args.jump_at, jump=args.jump)
    seeds = [int(s) for s in args.seeds.split(",")]
    decays = [float(d) for d in args.decays.split(",")]
    if args.quick:
        seeds, decays = seeds[:1], decays[:1]
        config.steps = 250
    if args.steps:
        config.steps = args.steps
    if args.prompts:
        config.prompts = args.prompts
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    for s in strategies:
        if s not in STRATEGIES:
            p.error(f"unknown strategy {s!r}; one of {', '.join(STRATEGIES)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    runs: List[Tuple[str, Optional[float]]] = []
    for s in strategies:
        for d in (decays if s.startswith("mopps") else [None]):
            runs.append((s, d))
    total = len(runs) * len(seeds) * config.steps
    done = [0]
    started = time.monotonic()

    def progress(_step: int) -> None:
        done[0] += 1
        if done[0] % 10 == 0 or done[0] == total:
            width = 30
            filled = int(width * done[0] / total)
            eta = (time.monotonic() - started) / done[0] * (total - done[0])
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done[0]}/{total} steps, ~{eta:4.0f} s left")
            sys.stderr.flush()

    def sweep(client: Client) -> Results:
        results: Results = {}
        for strategy, decay in runs:
            label = strategy if decay is None else f"{strategy} λ={decay:g}"
            for seed in seeds:
                rows = run(strategy, config, seed, client=client, decay=decay or 1.0, progress=progress)
                write_csv(out / f"{label.replace(' ', '_').replace('λ=', 'decay')}_seed{seed}.csv", rows)
                results.setdefault(label, []).append(rows)
        return results

    if args.endpoint:
        with Client(args.endpoint, timeout=30) as client:
            results = sweep(client)
    else:
        with launch(extra_args=["--no-persistence"]) as client:
            results = sweep(client)
    sys.stderr.write("\n")
    table = summarize(results, config.target_accuracy)
    text = format_table(table, config.target_accuracy)
    plots_dir = Path(args.plots_dir) if args.plots_dir else out
    plots_dir.mkdir(parents=True, exist_ok=True)
    plots = plot(results, plots_dir, config.target_accuracy)
    (out / "summary.md").write_text(text + "\n")
    print(f"\n{len(seeds)} seed(s), {config.steps} steps, {config.prompts} prompts, batch {config.batch} × "
          f"{config.rollouts} rollouts, {config.ts_ratio}× candidates; accuracy {config.target_accuracy} is the target.\n")
    print(text)
    for label, label_runs in results.items():
        if label.startswith("mopps"):
            marks = [r for r in label_runs[0] if r["step"] % max(5, (config.steps // 5) // 5 * 5) == 0]
            print(f"\n{label}: posterior means closing in on the true success rates (Spearman) — "
                  + ", ".join(f"step {int(r['step'])}: {r['spearman']:.2f}" for r in marks if r["spearman"] == r["spearman"]))
            break
    print(f"\nCSV per run and summary.md in {out}/; plots: " + ", ".join(str(p) for p in plots))
    if args.report:
        write_report(Path(args.report), table, config, seeds, decays, plots, text)
        print(f"report: {args.report}")
    return 0
