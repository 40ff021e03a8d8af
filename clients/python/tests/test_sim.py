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
                     "--strategies", "uniform,dynamic-sampling,mopps-topk,mopps-threshold,oracle",
                     "--out", str(tmp_path / "o"), "--report", str(tmp_path / "evidence.md")])
    assert code == 0
    out = tmp_path / "o"
    assert len(list(out.glob("*.csv"))) == 5
    assert {p.name for p in out.glob("*.png")} == {"stationary.png"}
    assert "| uniform |" in (out / "summary.md").read_text()
    assert "The published claims against this run" in (tmp_path / "evidence.md").read_text()
    assert "| mopps-topk" in capsys.readouterr().out


def test_cli_runs_every_strategy_and_scenario(tmp_path, server, capsys):
    """Every strategy (the sidecar ones through the live server) in every scenario: one CSV per run,
    one figure per scenario, a table per scenario in the report."""
    code = sim.main(["--seeds", "0,1", "--steps", "12", "--prompts", "600", "--endpoint", server.listen,
                     "--scenarios", "stationary,drifting,skewed", "--decays", "1,0.5",
                     "--out", str(tmp_path / "o"), "--report", str(tmp_path / "evidence.md")])
    assert code == 0
    runs = len(sim.STRATEGIES) + 3  # mopps-topk, mopps-threshold and dps twice (two λ)
    assert len(list((tmp_path / "o").glob("*.csv"))) == 3 * runs * 2
    assert {p.name for p in (tmp_path / "o").glob("*.png")} == {"stationary.png", "drifting.png", "skewed.png"}
    report = (tmp_path / "evidence.md").read_text()
    for heading in ("## stationary", "## drifting", "## skewed", "### skewed"):
        assert heading in report
    for label in ("| dps λ=0.5 |", "| greso |", "| pools |", "| greso-ds |", "| dynamic-sampling |"):
        assert label in report
    assert client_pools_left(server) == []


def client_pools_left(server):
    import mopps

    with mopps.Client(server.listen) as c:
        return c.list_pools()


def test_scenarios_change_the_task_as_documented():
    drifting = sim.Task(sim.scenario("drifting", drift_at=5, drift_share=0.25), seed=1)
    before = drifting.difficulty.copy()
    for step in range(1, 6):
        drifting.learn(0, step)
    changed = np.flatnonzero(drifting.difficulty != before)
    assert len(changed) == 250  # a quarter of the 1000 prompts, at step 5
    stationary = sim.Task(sim.scenario("stationary"), seed=1)
    assert np.array_equal(stationary.difficulty, before)  # the same task until the drift
    skewed = sim.Task(sim.scenario("skewed"), seed=1)
    assert np.sum(skewed.difficulty == -12.0) == 350 and np.sum(skewed.difficulty == 12.0) == 350
    assert sim.scenario("skewed").target_accuracy == 0.50


def test_dynamic_sampling_stops_at_its_cap_and_counts_it():
    config = small(prompts=400, ts_ratio=4, max_num_gen_batches=2, scenario="skewed")
    rows = sim.run("dynamic-sampling", config, seed=1)
    per_step = np.diff([0] + [r["rollouts"] for r in rows])
    assert all(r["gen_batches"] <= 2 for r in rows)
    assert per_step.max() == 2 * config.batch * config.rollouts
    hits = [r for r in rows if r["cap_hit"]]
    assert hits and all(r["gen_batches"] == 2 for r in hits)  # 70 % of the prompts never mix


def test_greso_ds_skips_prompts_that_were_zero_variance():
    config = small(prompts=400, ts_ratio=4, scenario="skewed", steps=60)
    ds = sim.run("dynamic-sampling", config, seed=1)
    greso = sim.run("greso-ds", config, seed=1)
    # Same training signal per step (both fill B mixed groups when they can), far fewer rollouts.
    assert greso[-1]["rollouts"] < 0.7 * ds[-1]["rollouts"]
