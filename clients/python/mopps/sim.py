"""A synthetic RLVR task that measures what prompt selection saves, against a live moppsd.

The environment (documented so results can be checked):

- N prompts with latent difficulty d_i ~ Normal(0, difficulty_spread).
- A policy with one skill θ; prompt i is solved by a rollout with probability
  p_i = sigmoid(θ − d_i), independently per rollout (Bernoulli rewards).
- Each training step uses a batch of B prompts × k rollouts. A group whose k rewards are all 0 or
  all 1 gives GRPO no gradient; the policy improves by θ ← θ + lr · (mixed groups in the batch).
  Optionally the skill jumps by ``jump`` at step ``jump_at`` (non-stationarity).
- "Accuracy" is the expected success rate over the whole prompt set, mean_i p_i.

Strategies, all with the same seeds (same task, same candidate draws where they apply):

- ``uniform``: B prompts uniformly at random.
- ``dynamic-sampling`` (DAPO): draw B prompts at a time, roll them out, keep the mixed groups,
  repeat until B mixed groups are collected (every generated rollout is counted).
- ``mopps-topk`` / ``mopps-threshold``: the client draws ts_ratio × B candidates and asks moppsd
  (Select) for B of them, then reports the rewards (Update). Numbers come from the real sidecar.
- ``oracle``: the B candidates whose true p is nearest 0.5.

Per step the CSV records rollouts spent (cumulative), the effective ratio (mixed groups / groups
trained on), accuracy, skill and, for MoPPS, the Spearman correlation between posterior means and true
p over the prompts rolled out so far.

    python -m mopps.sim --quick                 # ~30 s: one seed, prints a summary and writes plots
    python -m mopps.sim --seeds 0,1,2 --decays 1,0.5 --out sim-out   # the full sweep (make evidence)
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

STRATEGIES = ("uniform", "dynamic-sampling", "mopps-topk", "mopps-threshold", "oracle")


@dataclasses.dataclass
class TaskConfig:
    prompts: int = 1000
    batch: int = 64
    rollouts: int = 8
    ts_ratio: int = 8
    difficulty_spread: float = 3.0
    skill0: float = -1.5
    lr: float = 0.0003
    steps: int = 400
    target_accuracy: float = 0.55
    jump_at: int = -1
    jump: float = 0.0
    max_resample: int = 50  # dynamic sampling: at most this many draws per step

    def __post_init__(self) -> None:
        if self.prompts < self.batch * self.ts_ratio:
            raise ValueError("prompts must be at least batch × ts_ratio")


class Task:
    """The simulated environment: difficulties, the policy's skill, Bernoulli rollouts."""

    def __init__(self, config: TaskConfig, seed: int) -> None:
        self.config = config
        self.rng = np.random.default_rng(seed)
        self.difficulty = self.rng.normal(0.0, config.difficulty_spread, size=config.prompts)
        self.skill = config.skill0

    def success_prob(self, ids: Optional[np.ndarray] = None) -> np.ndarray:
        d = self.difficulty if ids is None else self.difficulty[ids]
        return 1.0 / (1.0 + np.exp(-(self.skill - d)))

    def accuracy(self) -> float:
        return float(self.success_prob().mean())

    def rollout(self, ids: np.ndarray) -> np.ndarray:
        """Successes out of k rollouts for each prompt."""
        return self.rng.binomial(self.config.rollouts, self.success_prob(ids))

    def learn(self, mixed_groups: int, step: int) -> None:
        self.skill += self.config.lr * mixed_groups
        if step == self.config.jump_at:
            self.skill += self.config.jump


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def run(strategy: str, config: TaskConfig, seed: int, client=None, decay: float = 1.0,
        progress=None) -> List[Dict[str, float]]:
    """One training run; returns one row per step. MoPPS strategies need a connected client."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; one of {', '.join(STRATEGIES)}")
    task = Task(config, seed)
    # Candidate draws come from their own generator so every strategy sees the same candidates.
    draws = np.random.default_rng(seed + 10_000)
    pool = None
    if strategy.startswith("mopps"):
        if client is None:
            raise ValueError("MoPPS strategies need a moppsd client")
        pool = f"sim-{strategy}-s{seed}-d{str(decay).replace('.', '_')}-{os.getpid()}-{time.monotonic_ns()}"
        client.create_pool(pool, decay=decay, seed=seed, strategy=strategy.split("-")[1])
    seen = np.zeros(config.prompts, dtype=bool)
    rollouts_spent = 0
    rows = []
    b, k = config.batch, config.rollouts
    for step in range(1, config.steps + 1):
        candidates = draws.choice(config.prompts, size=b * config.ts_ratio, replace=False)
        if strategy == "uniform":
            batch = candidates[:b]
        elif strategy == "oracle":
            p = task.success_prob(candidates)
            batch = candidates[np.argsort(np.abs(p - 0.5), kind="stable")[:b]]
        elif strategy.startswith("mopps"):
            batch = client.select(pool, b, candidates=candidates.astype(np.uint64)).ids.astype(np.int64)
        else:  # dynamic sampling
            batch = None
        if batch is not None:
            successes = task.rollout(batch)
            rollouts_spent += b * k
            mixed = int(np.sum((successes > 0) & (successes < k)))
            trained_groups = b
            if pool is not None:
                client.update(pool, batch.astype(np.uint64), successes.astype(float), rollouts=k)
            seen[batch] = True
        else:
            mixed = 0
            trained_groups = 0
            for attempt in range(config.max_resample):
                draw = candidates[:b] if attempt == 0 else draws.choice(config.prompts, size=b, replace=False)
                successes = task.rollout(draw)
                rollouts_spent += b * k
                keep = (successes > 0) & (successes < k)
                take = min(int(keep.sum()), b - mixed)
                mixed += take
                if mixed >= b:
                    break
            trained_groups = mixed
        task.learn(mixed, step)
        row = {
            "step": step, "rollouts": rollouts_spent, "accuracy": task.accuracy(), "skill": task.skill,
            "effective_ratio": mixed / trained_groups if trained_groups else 0.0,
            "spearman": float("nan"),
        }
        if pool is not None and step % 5 == 0:
            ids = np.flatnonzero(seen)
            post = client.get(pool, ids.astype(np.uint64))
            row["spearman"] = spearman(post.means, task.success_prob(ids))
        rows.append(row)
        if progress:
            progress(step)
    if pool is not None:
        client.drop_pool(pool)
    return rows


def to_target(rows: Sequence[Dict[str, float]], target: float) -> Dict[str, float]:
    """Steps and rollouts until accuracy first reaches the target (NaN if never)."""
    for r in rows:
        if r["accuracy"] >= target:
            return {"steps": r["step"], "rollouts": r["rollouts"]}
    return {"steps": float("nan"), "rollouts": float("nan")}


def write_csv(path: Path, rows: Sequence[Dict[str, float]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def plot(results: Dict[str, List[List[Dict[str, float]]]], out: Path, target: float) -> List[Path]:
    """Accuracy vs rollouts, effective ratio vs step, Spearman vs step (means over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    panels = [
        ("accuracy_vs_rollouts.png", "rollouts", "accuracy", "rollouts generated", "accuracy (expected success rate)"),
        ("effective_ratio_vs_step.png", "step", "effective_ratio", "step", "groups with a learning signal"),
        ("spearman_vs_step.png", "step", "spearman", "step", "Spearman(posterior mean, true p)"),
    ]
    for name, x_key, y_key, x_label, y_label in panels:
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for label, runs in results.items():
            if y_key == "spearman" and not label.startswith("mopps"):
                continue
            x = np.mean([[r[x_key] for r in run] for run in runs], axis=0)
            y = np.nanmean([[r[y_key] for r in run] for run in runs], axis=0) if y_key != "spearman" else None
            if y_key == "spearman":
                ys = np.array([[r[y_key] for r in run] for run in runs])
                keep = ~np.all(np.isnan(ys), axis=0)
                x, y = x[keep], np.nanmean(ys[:, keep], axis=0)
            ax.plot(x, y, label=label)
        if y_key == "accuracy":
            ax.axhline(target, color="gray", linestyle=":", linewidth=1)
        ax.set_xlabel(x_label)
        ax.set_ylabel(y_label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = out / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def summarize(results: Dict[str, List[List[Dict[str, float]]]], target: float) -> List[Dict[str, object]]:
    table = []
    base = None
    for label, runs in results.items():
        reach = [to_target(run, target) for run in runs]
        steps = float(np.nanmean([r["steps"] for r in reach])) if any(not math.isnan(r["steps"]) for r in reach) else float("nan")
        rollouts = float(np.nanmean([r["rollouts"] for r in reach])) if any(not math.isnan(r["rollouts"]) for r in reach) else float("nan")
        reached = sum(not math.isnan(r["steps"]) for r in reach)
        eff = float(np.mean([np.mean([r["effective_ratio"] for r in run]) for run in runs]))
        sp = [r["spearman"] for run in runs for r in run[-10:] if not math.isnan(r["spearman"])]
        row = {"label": label, "steps": steps, "rollouts": rollouts, "reached": f"{reached}/{len(runs)}",
               "effective": eff, "spearman": float(np.mean(sp)) if sp else float("nan")}
        if label == "uniform":
            base = row
        table.append(row)
    for row in table:
        row["steps_vs_uniform"] = base["steps"] / row["steps"] if base and row["steps"] == row["steps"] else float("nan")
        row["rollouts_vs_uniform"] = (base["rollouts"] / row["rollouts"]
                                      if base and row["rollouts"] == row["rollouts"] else float("nan"))
    return table


def format_table(table: List[Dict[str, object]], target: float) -> str:
    lines = [
        f"| strategy | steps to {target:.2f} | rollouts to {target:.2f} | reached | effective ratio | "
        "uniform steps / these | uniform rollouts / these | Spearman (last steps) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        sp = "" if math.isnan(r["spearman"]) else f"{r['spearman']:.2f}"
        lines.append(
            f"| {r['label']} | {r['steps']:.0f} | {r['rollouts']:.0f} | {r['reached']} | {r['effective']:.2f} | "
            f"{r['steps_vs_uniform']:.2f}× | {r['rollouts_vs_uniform']:.2f}× | {sp} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="mopps-sim", description=__doc__.splitlines()[0])
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

    from . import Client, launch

    runs: List[tuple] = []
    for s in strategies:
        for d in (decays if s.startswith("mopps") else [None]):
            runs.append((s, d))
    total = len(runs) * len(seeds) * config.steps
    done = [0]
    started = time.monotonic()

    def progress(_step):
        done[0] += 1
        if done[0] % 10 == 0 or done[0] == total:
            width = 30
            filled = int(width * done[0] / total)
            eta = (time.monotonic() - started) / done[0] * (total - done[0])
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done[0]}/{total} steps, ~{eta:4.0f} s left")
            sys.stderr.flush()

    def sweep(client) -> Dict[str, List[List[Dict[str, float]]]]:
        results: Dict[str, List[List[Dict[str, float]]]] = {}
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


def write_report(path: Path, table, config: TaskConfig, seeds, decays, plots, text) -> None:
    """docs/evidence.md: settings, the table, the plots, and the comparison with the paper's claims,
    all computed from this run's numbers."""
    by = {r["label"]: r for r in table}
    mopps_rows = [r for r in table if r["label"].startswith("mopps")]
    best = max(mopps_rows, key=lambda r: r["steps_vs_uniform"]) if mopps_rows else None
    dapo = by.get("dynamic-sampling")
    lines = [
        "# Evidence: rollouts saved by MoPPS in a simulated RLVR task",
        "",
        "Generated by `make evidence` (`python -m mopps.sim --seeds ... --report docs/evidence.md`); every",
        "MoPPS number comes from a live `moppsd` (Select/Update over ipc). The task is described in",
        "`clients/python/mopps/sim.py`: prompt i is solved with probability sigmoid(skill − d_i),",
        f"d_i ~ Normal(0, {config.difficulty_spread:g}); the skill grows by {config.lr:g} per group with mixed rewards.",
        "",
        f"Settings: {config.prompts} prompts, batch {config.batch} × {config.rollouts} rollouts, "
        f"{config.ts_ratio}× candidates for MoPPS and the oracle, {config.steps} steps, seeds "
        f"{', '.join(map(str, seeds))}, λ ∈ {{{', '.join(f'{d:g}' for d in decays)}}}; target accuracy "
        f"{config.target_accuracy} (accuracy at the start: "
        f"{np.mean([Task(config, seed).accuracy() for seed in seeds]):.3f}).",
        "",
        text,
        "",
        "Steps and rollouts are means over the seeds that reached the target; the effective ratio is the mean",
        "share of trained groups with mixed rewards over the whole run; Spearman is over the last 10 steps.",
        "",
    ]
    if best and dapo:
        lines += [
            "## Compared with the paper's claims",
            "",
            f"- Speed-up over uniform sampling: the paper reports 1.6–1.8×; here the best MoPPS variant "
            f"({best['label']}) reaches the target in {best['steps_vs_uniform']:.2f}× fewer steps and "
            f"{best['rollouts_vs_uniform']:.2f}× fewer rollouts than uniform"
            f" (the oracle that knows the true rates: {by['oracle']['steps_vs_uniform']:.2f}×)." if "oracle" in by else "",
            f"- Against dynamic sampling (DAPO): it needs {dapo['steps']:.0f} steps but {dapo['rollouts']:.0f} "
            f"rollouts; MoPPS needs {dapo['rollouts'] / best['rollouts']:.2f}× fewer rollouts "
            f"({100 * (1 - best['rollouts'] / dapo['rollouts']):.0f}% fewer; the paper reports up to ~78% fewer).",
            f"- Spearman between posterior means and true success rates: {best['spearman']:.2f} (paper: > 0.5).",
            "",
        ]
        held = {
            "faster than uniform": best["steps_vs_uniform"] > 1,
            "fewer rollouts than dynamic sampling": best["rollouts"] < dapo["rollouts"],
            "Spearman > 0.5": best["spearman"] > 0.5,
        }
        failed = [claim for claim, ok in held.items() if not ok]
        lines += [
            ("The direction of every claim holds in this run" if not failed
             else "Not reproduced in this run: " + ", ".join(failed))
            + "; the sizes depend on the task's spread of difficulties (more always-solved / never-solved "
            "prompts favour selection) and on how fast the policy moves.",
            "",
        ]
    lines += ["## Plots", ""] + [f"![{p.stem}]({os.path.relpath(p, path.parent)})" for p in plots] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
