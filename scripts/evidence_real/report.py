"""Turns the run records into docs/evidence-real.md and its plots; every number is computed here
from the records of the run (nothing is typed in), with 95 % t-intervals over seeds.

>>> write_report(records, out_md="docs/evidence-real.md", plots_dir="docs/evidence-real",  # doctest: +SKIP
...              meta={...})
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .run import group_summary

_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def mean_ci(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and the half-width of its 95 % t-interval (nan half-width for one value)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size == 1:
        return float(v[0]), float("nan")
    return float(v.mean()), float(_T95.get(v.size - 1, 1.96) * v.std(ddof=1) / np.sqrt(v.size))


def fmt(mean: float, half: float, digits: int = 3) -> str:
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.{digits}f}" if not np.isfinite(half) else f"{mean:.{digits}f} ± {half:.{digits}f}"


def first_reach(evals: List[Dict[str, float]], target: float, key: str = "accuracy") -> Optional[Dict[str, float]]:
    """The first evaluation from which ``key`` stays at or above ``target`` to the end of the run
    (None if the last one is below): one evaluation crossing by its sampling noise does not count."""
    reached = None
    for e in evals:
        if e.get(key, float("-inf")) >= target:
            reached = reached or e
        else:
            reached = None
    return reached


#: The two accuracies a target is set on: held-out, and the training prompts themselves (what RL
#: optimises directly, and what prompt selection is meant to speed up). Key, record field, problems.
MEASURES = (("", "accuracy", "test_prompts"), ("train_", "train_accuracy", "train_prompts"))


def per_run(record: Dict[str, Any], targets: Dict[str, float]) -> Dict[str, Any]:
    """The numbers of one run the table averages (``targets`` by measure prefix, see MEASURES)."""
    groups = group_summary(record)
    g = record["config"]["rollouts_per_prompt"]
    rounds = record["rounds"]
    step_seconds = np.asarray([s["seconds"] for s in record["steps"]])
    # Time spent choosing prompts: MoPPS's Select round trips and its report/metrics work; for
    # dynamic sampling, the generation time of the groups it discarded.
    if record["strategy"]["kind"] == "mopps":
        select_ms = [e["mopps/select_ms"] for e in record["logged"] if "mopps/select_ms" in e]
        selection = (np.sum(select_ms) + np.sum(record["mopps_overhead_ms"])) / 1e3
    elif record["strategy"]["kind"] == "dynamic-sampling":
        selection = sum(r["seconds"] * (1 - len(r["kept"]) / len(r["successes"])) for r in rounds)
    else:
        selection = 0.0
    all_groups = np.concatenate([np.asarray(r["successes"]) for r in rounds])
    reach: Dict[str, Any] = {}
    for prefix, key, _ in MEASURES:
        reached = first_reach(record["evals"], targets[prefix], key)
        reach[f"{prefix}reach_steps"] = None if reached is None else reached["step"]
        reach[f"{prefix}reach_rollouts"] = None if reached is None else reached["rollouts"]
        reach[f"{prefix}final_measure"] = record["evals"][-1].get(key)
    pred = [e["mopps/predicted_success"] for e in record["logged"] if "mopps/predicted_success" in e]
    real = [e["mopps/realised_success"] for e in record["logged"] if "mopps/predicted_success" in e]
    return {
        "final": record["evals"][-1]["accuracy"], "final_greedy": record["evals"][-1]["greedy"],
        "steps": len(record["steps"]), "rollouts": record["steps"][-1]["rollouts"] if record["steps"] else 0,
        **reach,
        "effective_trained": float(groups["effective"].mean()),
        "effective_generated": float(np.mean((all_groups > 0) & (all_groups < g))),
        "rounds_per_step": len(rounds) / max(1, len(record["steps"])),
        "step_seconds": float(step_seconds.mean()), "selection_share": float(selection / step_seconds.sum()),
        "cap_hits": record["cap_hits"], "predicted": pred, "realised": real, "seconds": record["seconds"],
        "train_success": _train_success(record),
    }


def _train_success(record: Dict[str, Any], window: int = 20) -> Tuple[float, float]:
    """Success rate of the rollouts generated in the first and in the last ``window`` steps: under
    uniform sampling, how much the policy learned the training prompts themselves."""
    g = record["config"]["rollouts_per_prompt"]
    steps = sorted({r["step"] for r in record["rounds"]})
    if len(steps) < 2 * window:
        return float("nan"), float("nan")
    first, last = set(steps[:window]), set(steps[-window:])

    def rate(chosen: set) -> float:
        succ = [s for r in record["rounds"] if r["step"] in chosen for s in r["successes"]]
        return float(np.sum(succ) / (g * len(succ)))

    return rate(first), rate(last)


def _plot(records: Dict[str, List[Dict[str, Any]]], plots_dir: str, budget: int) -> List[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(plots_dir, exist_ok=True)
    names: List[str] = []
    figures = [("rollouts", "accuracy", "accuracy_vs_rollouts.png"), ("step", "accuracy", "accuracy_vs_steps.png")]
    if all("train_accuracy" in r["evals"][0] for runs in records.values() for r in runs):
        figures.append(("rollouts", "train_accuracy", "train_accuracy_vs_rollouts.png"))
    for axis, key, fname in figures:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, runs in records.items():
            top = budget if axis == "rollouts" else max(r["evals"][-1]["step"] for r in runs)
            grid = np.linspace(0, top, 40)
            curves = np.stack([np.interp(grid, [e[axis] for e in r["evals"]], [e[key] for e in r["evals"]])
                               for r in runs])
            mean = curves.mean(axis=0)
            half = np.asarray([mean_ci(curves[:, j].tolist())[1] for j in range(grid.size)]) if len(runs) > 1 else 0 * mean
            ax.plot(grid, mean, label=name)
            ax.fill_between(grid, mean - np.nan_to_num(half), mean + np.nan_to_num(half), alpha=0.2)
        ax.set_xlabel("rollouts generated" if axis == "rollouts" else "optimizer steps")
        ax.set_ylabel("held-out accuracy (avg@k, T=1)" if key == "accuracy" else
                      "accuracy on the training prompts (avg@k, T=1)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(plots_dir, fname), dpi=110)
        plt.close(fig)
        names.append(fname)
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, runs in records.items():
        eff = [group_summary(r) for r in runs]
        n = min(len(e["effective"]) for e in eff)
        k = max(1, n // 20)
        mean = np.mean([e["effective"][:n] for e in eff], axis=0)
        smooth = np.convolve(mean, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(smooth.size) + k, smooth, label=name)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("share of trained groups with mixed rewards")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(plots_dir, "effective_ratio_vs_step.png"), dpi=110)
    plt.close(fig)
    names.append("effective_ratio_vs_step.png")
    mopps = {n: runs for n, runs in records.items() if runs[0]["strategy"]["kind"] == "mopps"}
    if mopps:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        for name, runs in mopps.items():
            pred = np.concatenate([[e["mopps/predicted_success"] for e in r["logged"] if "mopps/predicted_success" in e]
                                   for r in runs])
            real = np.concatenate([[e["mopps/realised_success"] for e in r["logged"] if "mopps/predicted_success" in e]
                                   for r in runs])
            ax.scatter(pred, real, s=6, alpha=0.4, label=name)
        ax.plot([0, 1], [0, 1], "k--", lw=1)
        ax.set_xlabel("predicted success of the chosen batch (posterior mean)")
        ax.set_ylabel("realised success of the batch")
        ax.legend()
        fig.tight_layout()
        fig.savefig(os.path.join(plots_dir, "mopps_calibration.png"), dpi=110)
        plt.close(fig)
        names.append("mopps_calibration.png")
    return names


def write_report(records: Dict[str, List[Dict[str, Any]]], *, out_md: str, plots_dir: str,
                 meta: Dict[str, Any], target: Optional[float] = None, target_fraction: float = 0.5) -> str:
    """Writes the document and the plots; returns the markdown."""
    first = next(iter(records.values()))[0]
    cfg = first["config"]
    start = float(np.mean([r["evals"][0]["accuracy"] for runs in records.values() for r in runs]))
    finals = {n: mean_ci([r["evals"][-1]["accuracy"] for r in runs])[0] for n, runs in records.items()}
    best_gain = max(finals.values()) - start
    noise = eval_noise(start, cfg)
    if target is None:
        # A target inside one evaluation's noise would be "reached" by noise alone, so the race to
        # it would measure nothing: without a gain larger than the noise there is no target.
        target = start + target_fraction * best_gain if best_gain > noise else float("inf")
    train = _train_target(records, target_fraction)
    stats = {n: [per_run(r, {"": target, "train_": train["target"]}) for r in runs] for n, runs in records.items()}
    plots = _plot(records, plots_dir, cfg["budget"])
    rel = os.path.relpath(plots_dir, os.path.dirname(out_md) or ".")

    def col(name: str, key: str) -> Tuple[float, float]:
        return mean_ci([s[key] for s in stats[name] if s[key] is not None])

    lines = [
        "# Evidence through a real trainer: GRPO in TRL on a small model learning arithmetic",
        "",
        f"Generated by `{meta['command']}` ({meta['host']}, shared with other builds, torch on 1 thread): the "
        f"{sum(len(r) for r in records.values())} training runs took {meta['runs_seconds'] / 60:.1f} min added up "
        f"({meta.get('jobs', 1)} at a time), "
        f"the SFT warm-up {meta['sft']['seconds'] / 60:.1f} min, this invocation {meta['seconds'] / 60:.1f} min (runs "
        "already recorded in the output folder are reused). Every number below is computed by the run "
        "(scripts/evidence_real). TRL "
        f"{meta['trl']}, transformers {meta['transformers']}, torch {meta['torch']}.",
        "",
        "## Set-up",
        "",
        f"- Task: integer `+`, `-`, `*` with 1–5-digit operands (shorter operands more frequent), the answer written "
        "least-significant digit first (the order a carry is computed in), reward 1 for an exact answer, else 0. "
        f"{cfg['train_prompts']} training prompts, a disjoint held-out set of {cfg['test_prompts']} of the same mix.",
        f"- Policy: a 2-layer Llama (64 dims, ~0.1 M parameters, character vocabulary built in code), SFT'd for "
        f"{meta['sft']['sft_steps']} steps ({meta['sft']['seconds']:.0f} s) to greedy accuracy "
        f"{meta['sft']['probe_accuracy']:.2f} on a probe set: "
        + ", ".join(f"{k} {v:.2f}" for k, v in meta["sft"]["probe_by_cell"].items())
        + " (operator and the longer operand's digits). Saved once; every run starts from it.",
        f"- GRPO (TRL `GRPOTrainer`, loss `dapo`, β = 0): {cfg['prompts_per_step']} prompts × "
        f"{cfg['rollouts_per_prompt']} rollouts per step, learning rate {cfg['learning_rate']:g} (constant), "
        f"temperature {cfg['temperature']}, budget {cfg['budget']} rollouts per run, seeds "
        f"{', '.join(str(s) for s in meta['seeds'])}; the same for every strategy.",
        "- Strategies: " + "; ".join(f"`{n}` ({runs[0]['strategy']['kind']}"
                                     + (f", moppsd strategy {_zoo_label(runs[0]['strategy'])}, "
                                        f"{runs[0]['strategy']['candidates_ratio']:g}× candidates"
                                        if runs[0]['strategy']['kind'] == 'mopps' else "")
                                     + (f", at most {runs[0]['strategy']['max_num_gen_batches']} generation rounds per step"
                                        if runs[0]['strategy']['kind'] == 'dynamic-sampling' else "") + ")"
                                     for n, runs in records.items()) + ".",
        f"- Held-out accuracy: avg@{cfg['eval_samples']} at the training temperature (the share of sampled answers that "
        f"are exact; same sampling seed for every policy) every {cfg['eval_every']} steps; greedy accuracy alongside.",
        "",
        "## Results",
        "",
        f"Start accuracy {start:.3f}; target " + (f"{target:.3f}" if np.isfinite(target) else "") + (
            f" (start + {target_fraction:g} × the best strategy's mean gain)" if np.isfinite(target) else
            f"none — no strategy's mean final accuracy gained more than one evaluation's noise (best "
            f"{best_gain:+.3f}, noise ±{noise:.3f}), so steps and rollouts to a target are not compared") +
        ". Means over seeds with 95 % t-intervals.",
        "",
        "| strategy | final accuracy | final greedy | steps in budget | reached target | steps to target | "
        "rollouts to target | effective ratio (trained) | mixed share (generated) | rounds / step | s / step | "
        "selection share |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in records:
        reached = sum(s["reach_steps"] is not None for s in stats[name])
        lines.append("| " + " | ".join([
            name, fmt(*col(name, "final")), fmt(*col(name, "final_greedy")), fmt(*col(name, "steps"), digits=0),
            f"{reached}/{len(stats[name])}", fmt(*col(name, "reach_steps"), digits=0),
            fmt(*col(name, "reach_rollouts"), digits=0), fmt(*col(name, "effective_trained"), digits=2),
            fmt(*col(name, "effective_generated"), digits=2), fmt(*col(name, "rounds_per_step"), digits=2),
            fmt(*col(name, "step_seconds"), digits=2), fmt(*col(name, "selection_share"), digits=3)]) + " |")
    if np.isfinite(train["start"]):
        lines += [
            "",
            f"On the training prompts themselves (avg@{cfg['eval_samples']}, the reward GRPO maximises): start "
            f"{train['start']:.3f}; target "
            + (f"{train['target']:.3f} (start + {target_fraction:g} × the best strategy's mean gain)"
               if np.isfinite(train["target"]) else
               f"none (best gain {train['gain']:+.3f} within the noise ±{train['noise']:.3f})") + ".",
            "",
            "| strategy | final train accuracy | reached train target | steps to train target | rollouts to train target |",
            "|---|---|---|---|---|",
        ]
        for name in records:
            reached = sum(s["train_reach_steps"] is not None for s in stats[name])
            lines.append("| " + " | ".join([
                name, fmt(*col(name, "train_final_measure")), f"{reached}/{len(stats[name])}",
                fmt(*col(name, "train_reach_steps"), digits=0), fmt(*col(name, "train_reach_rollouts"), digits=0)])
                + " |")
    lines += [
        "",
        "Steps/rollouts to target: the first evaluation from which the accuracy stays at or above the target, "
        "averaged over the seeds that reached it. Effective ratio: share of the groups trained on "
        "whose rewards were not all equal; mixed share: the same over every generated group. Selection share: of the "
        "step's wall time, MoPPS's Select round trips and reporting, or (dynamic sampling) the generation of discarded "
        "groups. Wall times come from a machine shared with compilers: compare them within this run only.",
    ]
    ds = [s for n, runs in records.items() if runs[0]["strategy"]["kind"] == "dynamic-sampling" for s in stats[n]]
    if ds:
        lines.append(f"Dynamic sampling hit its round cap in {sum(s['cap_hits'] for s in ds)} steps of "
                     f"{sum(s['steps'] for s in ds)} (those steps were filled with zero-advantage groups).")
    for name, runs in records.items():
        if runs[0]["strategy"]["kind"] != "mopps":
            continue
        pred = np.concatenate([s["predicted"] for s in stats[name]])
        real = np.concatenate([s["realised"] for s in stats[name]])
        corr = float(np.corrcoef(pred, real)[0, 1]) if pred.size > 2 and pred.std() > 0 and real.std() > 0 else float("nan")
        seen = [max(e.get("mopps/prompts_with_data", 0.0) for e in r["logged"]) for r in runs]
        picks = [len(r["rounds"]) * r["config"]["prompts_per_step"] for r in runs]
        lines += ["", f"**Calibration of `{name}`** over {pred.size} steps: predicted success of the chosen batch "
                  f"{pred.mean():.3f} (posterior means when selected), realised {real.mean():.3f}; mean |predicted − "
                  f"realised| {np.mean(np.abs(pred - real)):.3f}; correlation across steps {corr:.2f}. A run selects "
                  f"{np.mean(picks):.0f} prompts from a pool of {cfg['train_prompts']} and ends with "
                  f"{np.mean(seen):.0f} of them observed"
                  + (": most prompts are chosen with no data of their own, at the prior mean 0.5, which is where the "
                     "predicted success sits." if np.mean(picks) < 2 * cfg["train_prompts"] else
                     " (each chosen about " f"{np.mean(picks) / cfg['train_prompts']:.1f} times), so most choices "
                     "rest on the prompt's own earlier rewards.")]
    lines += ["", "## Compared with the paper and the simulator", ""]
    lines += _verdict(records, stats, target, train)
    lines += ["", "## Plots", ""] + [f"![{p[:-4]}]({rel}/{p})" for p in plots]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.dirname(out_md) or ".", exist_ok=True)
    with open(out_md, "w", encoding="utf-8") as f:
        f.write(text)
    return text


def eval_noise(accuracy: float, cfg: Dict[str, Any], problems: str = "test_prompts") -> float:
    """One evaluation's binomial standard error at ``accuracy`` (problems × samples answers)."""
    return float(np.sqrt(max(accuracy * (1 - accuracy), 1e-9) / (cfg[problems] * cfg["eval_samples"])))


def _speed_sentence(records: Dict[str, List[Dict[str, Any]]], stats: Dict[str, List[Dict[str, Any]]], target: float,
                    start: float, m: str, uniform: str, topk: bool, measure: Tuple[str, str, str] = MEASURES[0]) -> str:
    """Rollouts to the target of ``measure``, ``m`` against uniform, and whether the run can tell them apart."""
    prefix, _, problems = measure
    what = "held-out accuracy" if not prefix else "accuracy on the training prompts"
    r_m = [s[f"{prefix}reach_rollouts"] for s in stats[m]]
    r_u = [s[f"{prefix}reach_rollouts"] for s in stats[uniform]]
    if not np.isfinite(target):
        return (f"- Rollouts to a target {what} (`{m}`): no strategy improved it beyond the noise within the "
                "budget, so this run can neither confirm nor refute a speed-up"
                + (" (paper 1.6–1.8× fewer steps, simulator 1.53×)." if topk else "."))
    if any(v is None for v in r_m + r_u):
        return (f"- Target {target:.3f} reached by uniform in {sum(v is not None for v in r_u)}/{len(r_u)} seeds and "
                f"by `{m}` in {sum(v is not None for v in r_m)}/{len(r_m)}: no speed-up ratio is computed from an "
                "incomplete set.")
    ratio = np.mean(r_u) / np.mean(r_m)
    (mu, hu), (mm, hm) = mean_ci(r_u), mean_ci(r_m)
    # Paired by seed (same start, same evaluation draws): the speed-up is established only when the
    # 95 % interval of the per-seed differences excludes zero.
    by_seed = {s["seed"]: v for s, v in zip(records[uniform], r_u)}
    diff, half = mean_ci([by_seed[r["seed"]] - v for r, v in zip(records[m], r_m) if r["seed"] in by_seed])
    overlap = not np.isfinite(half) or abs(diff) <= half
    noise = eval_noise(start, records[m][0]["config"], problems)
    return (f"- Rollouts to {what} {target:.3f}: uniform {fmt(mu, hu, 0)}, `{m}` {fmt(mm, hm, 0)} "
            f"({ratio:.2f}× fewer for `{m}` on average"
            + ("; paper 1.6–1.8×, simulator 1.53×)" if topk else ")")
            + f"; paired per-seed difference {fmt(diff, half, 0)} rollouts"
            + (" — its 95 % interval includes zero, so this run does not establish a difference" if overlap else
               " — its 95 % interval excludes zero")
            + (f", and the target is only {target - start:+.3f} above the start, within one evaluation's "
               f"noise (±{noise:.3f})" if target - start < noise else "")
            + ("." if ratio > 1 else f" — `{m}` is not faster here."))


def _zoo_label(strategy: Dict[str, Any]) -> str:
    """``topk``, or ``dps {'decay': 0.5}``: the plug-in's ``mopps_strategy`` and its settings."""
    config = strategy.get("strategy_config") or {}
    return f"`{strategy.get('mopps_strategy') or 'topk'}`" + (f" {config}" if config else "")


def _train_target(records: Dict[str, List[Dict[str, Any]]], target_fraction: float) -> Dict[str, float]:
    """Start, best gain, noise and target (the held-out rule) of the accuracy on the training
    prompts; target inf when records lack it or no gain beats the noise."""
    runs = [r for rs in records.values() for r in rs]
    if not all("train_accuracy" in r["evals"][0] for r in runs):
        return {"start": float("nan"), "gain": float("nan"), "noise": float("nan"), "target": float("inf")}
    start = float(np.mean([r["evals"][0]["train_accuracy"] for r in runs]))
    gain = max(float(np.mean([r["evals"][-1]["train_accuracy"] for r in rs])) for rs in records.values()) - start
    noise = eval_noise(start, runs[0]["config"], "train_prompts")
    return {"start": start, "gain": gain, "noise": noise,
            "target": start + target_fraction * gain if gain > noise else float("inf")}


def _verdict(records: Dict[str, List[Dict[str, Any]]], stats: Dict[str, List[Dict[str, Any]]],
             target: float, train: Dict[str, float]) -> List[str]:
    """Plain sentences comparing this run with the paper's claims and docs/evidence.md."""
    out: List[str] = []
    names = list(records)
    mopps = [n for n in names if records[n][0]["strategy"]["kind"] == "mopps"]
    uniform = next((n for n in names if records[n][0]["strategy"]["kind"] == "uniform"), None)
    ds = next((n for n in names if records[n][0]["strategy"]["kind"] == "dynamic-sampling"), None)
    eff = {n: mean_ci([s["effective_trained"] for s in stats[n]]) for n in names}
    final = {n: mean_ci([s["final"] for s in stats[n]]) for n in names}
    start = float(np.mean([r["evals"][0]["accuracy"] for runs in records.values() for r in runs]))
    for m in mopps if uniform else []:
        topk = (records[m][0]["strategy"].get("mopps_strategy") or "topk") == "topk"
        # The paper's and the simulator's figures are for MoPPS; the zoo's simulated figures are in
        # docs/evidence.md, per scenario.
        ref = "as in the paper and in the simulator (0.74 vs 0.53)" if topk else "as in the simulator (docs/evidence.md)"
        out.append(f"- Effective ratio: `{m}` {eff[m][0]:.2f} vs uniform {eff[uniform][0]:.2f} — "
                   + (f"`{m}` trains on more mixed-reward groups, {ref}." if eff[m][0] > eff[uniform][0] else
                      f"`{m}` does not raise the share of mixed-reward groups here, unlike the simulator"
                      + (" and the paper (0.74 vs 0.53)." if topk else " (docs/evidence.md).")))
        out.append(_speed_sentence(records, stats, target, start, m, uniform, topk))
        if np.isfinite(train["start"]):
            out.append(_speed_sentence(records, stats, train["target"], train["start"], m, uniform, topk, MEASURES[1]))
        # Paired by seed: both runs of a seed start from the same policy and evaluation draws.
        by_seed = {r["seed"]: r["evals"][-1]["accuracy"] for r in records[uniform]}
        diff, half = mean_ci([r["evals"][-1]["accuracy"] - by_seed[r["seed"]] for r in records[m] if r["seed"] in by_seed])
        out.append(f"- Accuracy at the end of the budget: `{m}` {final[m][0]:.3f}, uniform {final[uniform][0]:.3f} "
                   f"(paired per-seed difference {fmt(diff, half)}): "
                   + ("a difference larger than its 95 % interval." if np.isfinite(half) and abs(diff) > half else
                      "within the noise of this run."))
    cfg = next(iter(records.values()))[0]["config"]
    noise = eval_noise(start, cfg)
    best = max(names, key=lambda n: final[n][0])
    out.append(f"- Size of the effect: the best strategy (`{best}`) ends {final[best][0] - start:+.3f} above the start "
               f"accuracy {start:.3f}; one evaluation's sampling error is about ±{noise:.3f} (binomial, "
               f"{cfg['test_prompts']} problems × {cfg['eval_samples']} samples)"
               + (f". RL moves this policy little within {cfg['budget']} rollouts, so every comparison of speed here "
                  "rests on small differences." if final[best][0] - start < 3 * noise else "."))
    if uniform:
        first = mean_ci([s["train_success"][0] for s in stats[uniform]])
        last = mean_ci([s["train_success"][1] for s in stats[uniform]])
        below = [n for n in names if final[n][0] < start]
        if np.isfinite(first[0]):
            out.append(f"- Training prompts vs held-out: under uniform sampling the rollouts of the first 20 steps "
                       f"succeed {fmt(*first)}, those of the last 20 {fmt(*last)}; held-out accuracy goes from "
                       f"{start:.3f} to {final[uniform][0]:.3f}"
                       + (f", and {len(below)} of {len(names)} strategies end below the start"
                          if below else "") + ".")
    if ds and uniform:
        r = {n: mean_ci([s["rounds_per_step"] for s in stats[n]])[0] for n in (ds,)}
        out.append(f"- Dynamic sampling trains only on mixed groups (effective ratio {eff[ds][0]:.2f}) but generates "
                   f"{r[ds]:.2f} rounds per step, so a fixed rollout budget buys it fewer steps; the paper and the "
                   "simulator find the same trade (the simulator: fewer steps, 0.86× uniform's rollouts).")
    return out
