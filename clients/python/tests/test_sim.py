"""The simulator: its environment statistics, each strategy's rollout accounting, and a real run
against moppsd."""

import math

import numpy as np
import pytest

from mopps import sim


def small(**kw):
    base = dict(prompts=400, batch=16, rollouts=8, ts_ratio=4, steps=30, lr=0.002)
    base.update(kw)
    return sim.TaskConfig(**base)


def test_empirical_success_rates_match_p():
    """20,000 rollouts of each of 200 prompts at a fixed skill: the empirical rate is within 5
    standard errors of p = sigmoid(skill - d) for every prompt."""
    task = sim.Task(small(prompts=200), seed=3)
    ids = np.arange(200)
    p = task.success_prob(ids)
    n = 20_000 // task.config.rollouts
    rate = np.mean([task.rollout(ids) for _ in range(n)], axis=0) / task.config.rollouts
    se = np.sqrt(p * (1 - p) / (n * task.config.rollouts))
    assert np.all(np.abs(rate - p) <= 5 * se + 1e-9)
    assert np.allclose(p, 1 / (1 + np.exp(-(task.skill - task.difficulty))))


def test_learning_and_skill_jump():
    task = sim.Task(small(jump_at=3, jump=0.5), seed=1)
    s0 = task.skill
    task.learn(10, step=1)
    assert math.isclose(task.skill, s0 + 10 * 0.002)
    task.learn(0, step=3)
    assert math.isclose(task.skill, s0 + 10 * 0.002 + 0.5)


@pytest.mark.parametrize("strategy", ["uniform", "oracle"])
def test_fixed_budget_strategies_spend_b_times_k(strategy):
    config = small()
    rows = sim.run(strategy, config, seed=2)
    assert [r["rollouts"] for r in rows] == [config.batch * config.rollouts * (i + 1) for i in range(config.steps)]
    again = sim.run(strategy, config, seed=2)  # same seed, same run (spearman is NaN without MoPPS)
    assert [{k: v for k, v in r.items() if k != "spearman"} for r in rows] == [
        {k: v for k, v in r.items() if k != "spearman"} for r in again]


def test_dynamic_sampling_counts_every_generated_rollout():
    config = small()
    rows = sim.run("dynamic-sampling", config, seed=2)
    per_step = np.diff([0] + [r["rollouts"] for r in rows])
    b_k = config.batch * config.rollouts
    assert np.all(per_step % b_k == 0) and np.all(per_step >= b_k)
    assert per_step.mean() > b_k  # it had to resample: generated more than it trained on
    assert all(r["effective_ratio"] == 1.0 for r in rows)  # trains only on mixed groups


def test_oracle_picks_the_candidates_nearest_one_half():
    config = small(steps=1)
    task = sim.Task(config, seed=4)
    draws = np.random.default_rng(4 + 10_000)
    candidates = draws.choice(config.prompts, size=config.batch * config.ts_ratio, replace=False)
    p = task.success_prob(candidates)
    expected = candidates[np.argsort(np.abs(p - 0.5), kind="stable")[: config.batch]]
    assert np.all(np.abs(task.success_prob(expected) - 0.5) <= np.sort(np.abs(p - 0.5))[config.batch - 1])


def test_mopps_runs_against_the_sidecar(client):
    config = small(steps=40)
    rows = sim.run("mopps-topk", config, seed=5, client=client)
    assert rows[-1]["rollouts"] == 40 * config.batch * config.rollouts
    sp = [r["spearman"] for r in rows if not math.isnan(r["spearman"])]
    assert len(sp) == 8 and sp[-1] > 0.3  # posterior means track the true rates
    assert client.list_pools() == []  # the run's pool was dropped
    uniform = sim.run("uniform", config, seed=5)
    mopps_eff = np.mean([r["effective_ratio"] for r in rows[10:]])
    uniform_eff = np.mean([r["effective_ratio"] for r in uniform[10:]])
    assert mopps_eff > uniform_eff  # selection finds more informative prompts


def test_cli_quick_run_writes_csv_plots_and_summary(tmp_path, server, capsys):
    code = sim.main(["--quick", "--steps", "20", "--prompts", "600", "--endpoint", server.listen,
                     "--out", str(tmp_path / "o"), "--report", str(tmp_path / "evidence.md")])
    assert code == 0
    out = tmp_path / "o"
    assert len(list(out.glob("*.csv"))) == 5
    assert {p.name for p in out.glob("*.png")} == {
        "accuracy_vs_rollouts.png", "effective_ratio_vs_step.png", "spearman_vs_step.png"}
    assert "| uniform |" in (out / "summary.md").read_text()
    assert "Compared with the paper" in (tmp_path / "evidence.md").read_text()
    assert "| mopps-topk" in capsys.readouterr().out
