"""One GRPO run of one strategy and seed, to a fixed budget of rollouts, as a JSON record.

Every run loads the same starting policy, uses the same prompts (``train_prompts`` of the mix, an
``index`` column = row number), the same rollouts per prompt, prompts per step, learning rate and
seed, and stops at the first step after which the rollouts generated reach the budget. Held-out
accuracy (sampled and greedy) and sampled accuracy on the training prompts are measured every
``eval_every`` steps (and at step 0).

>>> record = run_one(STRATEGIES["uniform"], RunConfig(budget=640), seed=0,          # doctest: +SKIP
...                  policy_dir="evidence-real-out/policy-sft3000-s0")
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

import numpy as np

from .strategies import Strategy, make_trainer
from .task import MAX_COMPLETION, Problem, exact_match, greedy_correct, load_policy, sampled_accuracy, make_problems


@dataclass(frozen=True)
class RunConfig:
    """What every strategy shares (a change here changes every run of the comparison)."""

    train_prompts: int = 300  # small enough that a run sees each prompt ~4 times (MoPPS needs data per prompt)
    test_prompts: int = 300
    prompts_per_step: int = 8
    rollouts_per_prompt: int = 8
    # Low enough that RL raises held-out accuracy on this policy (1e-4 lowers it; the sweep is in
    # the commit that set this value).
    learning_rate: float = 1e-5
    temperature: float = 1.0
    budget: int = 19200  # rollouts
    eval_every: int = 20  # steps
    eval_samples: int = 4  # completions per held-out problem (avg@k at the training temperature)
    task_seed: int = 0


def datasets_for(config: RunConfig) -> tuple[List[Problem], List[Problem]]:
    """The RL prompts and the disjoint held-out test set (same mix)."""
    train = make_problems(config.train_prompts, seed=config.task_seed)
    test = make_problems(config.test_prompts, seed=config.task_seed + 1, exclude=train)
    return train, test


def run_one(strategy: Strategy, config: RunConfig, *, seed: int, policy_dir: str,
            work_dir: Optional[str] = None) -> Dict[str, Any]:
    """Trains ``strategy`` from the policy in ``policy_dir`` and returns its record: the eval points
    (step, rollouts, accuracy), per-step wall time and rollouts, every generation round's ids and
    rewards (as per-group success counts), the MoPPS metrics TRL logged, and the run's settings."""
    import torch
    from datasets import Dataset
    from transformers import PrinterCallback, TrainerCallback
    from trl import GRPOConfig

    import mopps

    torch.set_num_threads(1)  # a shared 2-core machine: one thread is steadier and barely slower here
    train, test = datasets_for(config)
    dataset = Dataset.from_dict({"prompt": [p.prompt for p in train], "answer": [p.answer for p in train],
                                 "index": list(range(len(train)))})
    model, tokenizer = load_policy(policy_dir)

    def reward(completions: List[str], answer: List[str], **_: Any) -> List[float]:
        return [exact_match(c, a) for c, a in zip(completions, answer)]

    per_step = config.prompts_per_step * config.rollouts_per_prompt
    evals: List[Dict[str, float]] = []
    steps: List[Dict[str, float]] = []
    holder: Dict[str, Any] = {}

    def rollouts_so_far() -> int:
        return int(sum(r.ids.size for r in holder["trainer"].rounds))

    class Progress(TrainerCallback):  # type: ignore[misc]
        """Per-step wall time (evaluation excluded), evaluation, and the rollout budget."""

        def __init__(self) -> None:
            self.last = time.perf_counter()

        def evaluate(self, step: int) -> None:
            model = holder["trainer"].model
            sampled = sampled_accuracy(model, tokenizer, test, samples=config.eval_samples,
                                       temperature=config.temperature, seed=1000 + step)
            # The training prompts too: how fast RL raises the reward it is given, which is what
            # prompt selection speeds up; held-out accuracy adds whether that generalises.
            on_train = sampled_accuracy(model, tokenizer, train, samples=config.eval_samples,
                                        temperature=config.temperature, seed=2000 + step)
            evals.append({"step": step, "rollouts": rollouts_so_far(), "accuracy": float(sampled.mean()),
                          "greedy": float(greedy_correct(model, tokenizer, test).mean()),
                          "train_accuracy": float(on_train.mean())})

        def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            self.evaluate(0)
            self.last = time.perf_counter()

        def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
            now = time.perf_counter()
            steps.append({"step": state.global_step, "seconds": now - self.last, "rollouts": rollouts_so_far()})
            done = rollouts_so_far() >= config.budget
            if done or state.global_step % config.eval_every == 0:
                self.evaluate(state.global_step)
            if done:
                control.should_training_stop = True
            self.last = time.perf_counter()

    with tempfile.TemporaryDirectory(dir=work_dir) as out_dir:
        args = GRPOConfig(
            output_dir=out_dir, per_device_train_batch_size=per_step, num_generations=config.rollouts_per_prompt,
            steps_per_generation=1, max_completion_length=MAX_COMPLETION, temperature=config.temperature,
            learning_rate=config.learning_rate, lr_scheduler_type="constant", warmup_steps=0,
            max_steps=config.budget // per_step + 1, logging_steps=1, report_to=[], use_cpu=True, bf16=False,
            seed=seed, data_seed=seed, save_strategy="no", disable_tqdm=True, log_completions=False)
        client = mopps.launch(state_dir=os.path.join(out_dir, "mopps-state")) if strategy.kind == "mopps" else None
        try:
            trainer = make_trainer(strategy, mopps_client=client, model=model, reward_funcs=reward, args=args,
                                   train_dataset=dataset, processing_class=tokenizer, callbacks=[Progress()])
            trainer.remove_callback(PrinterCallback)  # the records below hold what the run needs
            holder["trainer"] = trainer
            t0 = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - t0
            # What the server ended with: its strategy, the training steps it counted (dps and greso
            # count report steps), GRESO's exploration probabilities.
            pool = None if client is None else next(p for p in client.list_pools() if p.name == strategy.name)
            pool_end = None if pool is None else {
                "strategy": pool.strategy, "steps": pool.steps, "updates": pool.update_count,
                "selects": pool.select_count, "greso_p_easy": pool.greso_p_easy, "greso_p_hard": pool.greso_p_hard}
        finally:
            if client is not None:
                client.close()

    g = config.rollouts_per_prompt
    rounds = [{"step": r.step, "ids": r.ids[::g].tolist(),
               "successes": (r.rewards.reshape(-1, g) > 0).sum(axis=1).tolist(),
               "kept": None if r.kept_groups is None else r.kept_groups.tolist(), "seconds": r.seconds}
              for r in trainer.rounds]
    logged = [{k: v for k, v in entry.items() if k.startswith("mopps/") or k in ("step", "frac_reward_zero_std")}
              for entry in trainer.state.log_history if "loss" in entry or any(k.startswith("mopps/") for k in entry)]
    return {
        "strategy": asdict(strategy), "seed": seed, "config": asdict(config), "seconds": seconds,
        "evals": evals, "steps": steps, "rounds": rounds, "logged": logged,
        "mopps_overhead_ms": list(getattr(trainer, "mopps_overhead_ms", [])),
        "cap_hits": int(getattr(trainer, "cap_hits", 0)), "pool_end": pool_end,
        "difficulty": {"train_cells": [f"{p.op}{max(p.digits)}" for p in train]},
    }


def group_summary(record: Dict[str, Any]) -> Dict[str, np.ndarray]:
    """Per step: trained groups with mixed rewards / trained groups, and generated groups."""
    g = record["config"]["rollouts_per_prompt"]
    by_step: Dict[int, List[float]] = {}
    generated: Dict[int, int] = {}
    for r in record["rounds"]:
        succ = np.asarray(r["successes"])
        kept = np.arange(succ.size) if r["kept"] is None else np.asarray(r["kept"], dtype=np.int64)
        mixed = (succ > 0) & (succ < g)
        by_step.setdefault(r["step"], []).extend(mixed[kept].tolist())
        generated[r["step"]] = generated.get(r["step"], 0) + succ.size
    keys = sorted(by_step)
    return {"step": np.asarray(keys), "effective": np.asarray([np.mean(by_step[k]) for k in keys]),
            "generated_groups": np.asarray([generated[k] for k in keys])}
