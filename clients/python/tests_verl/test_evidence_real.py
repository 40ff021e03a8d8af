"""scripts/evidence_real --quick against the real TRL 1.16: the harness of docs/evidence-real.md
trains every strategy, writes its records, report and plots, and the numbers in them are
consistent with the run's settings (so the harness cannot rot between full runs)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("evidence-real")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "scripts"), str(ROOT / "clients" / "python")]))
    # Two runs at a time: the parallel path of the harness (each run its own process and moppsd).
    proc = subprocess.run([sys.executable, "-m", "evidence_real", "--quick", "--jobs", "2", "--out", str(out)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out, proc


def test_quick_mode_trains_every_strategy_to_the_budget(quick_run):
    out, _ = quick_run
    for name in ("uniform", "dynamic-sampling", "mopps-topk", "dps", "greso", "pools"):
        record = json.loads((out / "runs" / f"{name}-s0.json").read_text())
        cfg = record["config"]
        g, per_step = cfg["rollouts_per_prompt"], cfg["prompts_per_step"] * cfg["rollouts_per_prompt"]
        rollouts = sum(len(r["successes"]) for r in record["rounds"]) * g
        # Stopped at the first step that reached the budget, every rollout counted.
        assert record["steps"][-1]["rollouts"] == rollouts >= cfg["budget"]
        assert rollouts - per_step * record["strategy"]["max_num_gen_batches"] < cfg["budget"]
        assert all(0 <= s <= g for r in record["rounds"] for s in r["successes"])
        assert all(0.0 <= e["accuracy"] <= 1.0 for e in record["evals"])
        assert record["evals"][0]["step"] == 0 and record["evals"][-1]["step"] == len(record["steps"])
        assert all(ids < cfg["train_prompts"] for r in record["rounds"] for ids in r["ids"])
        if name == "dynamic-sampling":
            # Only mixed groups are kept, at most a batch of them per step.
            for r in record["rounds"]:
                for k in r["kept"]:
                    assert 0 < r["successes"][k] < g
            per = {}
            for r in record["rounds"]:
                per[r["step"]] = per.get(r["step"], 0) + len(r["kept"])
            assert all(v <= cfg["prompts_per_step"] for v in per.values())
        else:
            assert len(record["rounds"]) == len(record["steps"])
            assert all(len(r["successes"]) == cfg["prompts_per_step"] for r in record["rounds"])
        if name in ("mopps-topk", "dps", "greso", "pools"):
            logged = [e for e in record["logged"] if "mopps/predicted_success" in e]
            assert len(logged) == len(record["steps"])
            assert all(0 < e["mopps/predicted_success"] < 1 for e in logged)
            # The server ran the strategy asked for, one Update per step and one Select per step
            # plus the batch the trainer fetched ahead; the per-step rules (dps, greso) counted one
            # training step per optimizer step.
            end = record["pool_end"]
            assert end["strategy"] == record["strategy"]["mopps_strategy"] == name.replace("mopps-", "")
            assert end["updates"] == len(record["steps"]) and end["updates"] <= end["selects"] <= end["updates"] + 1
            if name in ("dps", "greso"):
                assert end["steps"] == len(record["steps"])
            if name == "greso":
                assert 0 < end["greso_p_easy"] <= 1 and 0 < end["greso_p_hard"] <= 1
        else:
            assert record["pool_end"] is None


def test_quick_mode_writes_the_report_and_plots(quick_run):
    out, _ = quick_run
    text = (out / "evidence-real.md").read_text()
    for name in ("uniform", "dynamic-sampling", "mopps-topk", "dps", "greso", "pools"):
        assert f"| {name} |" in text
    assert "Calibration of `mopps-topk`" in text and "## Compared with the paper and the simulator" in text
    for png in ("accuracy_vs_rollouts.png", "accuracy_vs_steps.png", "effective_ratio_vs_step.png",
                "mopps_calibration.png"):
        assert (out / "plots" / png).stat().st_size > 1000


def test_a_second_quick_run_reuses_the_policy_and_the_records(quick_run):
    out, _ = quick_run
    before = {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "scripts"), str(ROOT / "clients" / "python")]))
    proc = subprocess.run([sys.executable, "-m", "evidence_real", "--quick", "--out", str(out)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "seed 0:" not in proc.stdout  # nothing retrained
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").iterdir()} == before
