"""mopps.trl.MoPPSGRPOTrainer against the real TRL 1.16: the methods it overrides still exist with the
signatures it relies on, and a GRPO training run end to end on CPU with a tiny randomly initialised
GPT-2 and a word-level tokenizer built here (no download), checking that every completion's reward
reaches moppsd's posterior exactly."""

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler

from mopps.launch import state_dir_in_use
from mopps.trl import MoPPSGRPOTrainer, MoPPSRepeatSampler


def test_overrides_match_trl():
    assert issubclass(MoPPSGRPOTrainer, GRPOTrainer)
    for name in ("_get_train_sampler", "_calculate_rewards"):
        base = inspect.signature(getattr(GRPOTrainer, name))
        ours = inspect.signature(getattr(MoPPSGRPOTrainer, name))
        assert list(base.parameters) == list(ours.parameters), name
    # The attributes our sampler construction reads are still set by GRPOTrainer.__init__.
    source = inspect.getsource(GRPOTrainer.__init__)
    for attribute in ("self.num_generations", "self.num_iterations", "self.reward_weights"):
        assert attribute in source, attribute
    assert "generation_batch_size" in inspect.getsource(GRPOTrainer._get_train_sampler)


def test_sampler_has_the_repeat_sampler_layout(tmp_path):
    import mopps

    with mopps.launch(state_dir=str(tmp_path / "s")) as client:
        client.create_pool("trl", seed=1)
        ours = list(MoPPSRepeatSampler(list(range(12)), client, "trl", mini_repeat_count=2, batch_size=3, repeat_count=2))
        theirs = list(RepeatSampler(list(range(12)), mini_repeat_count=2, batch_size=3, repeat_count=2, seed=1))
        assert len(ours) == len(theirs)
        # Same structure: blocks of batch_size*mini repeated repeat_count times, indices doubled.
        for seq in (ours, theirs):
            for g in range(len(seq) // 12):
                block = seq[g * 12:(g + 1) * 12]
                assert block[:6] == block[6:] and block[0:6:2] == block[1:6:2]


def test_grpo_trains_end_to_end_with_mopps_choosing_prompts(tmp_path):
    import numpy as np
    from trl import GRPOConfig

    import mopps
    from trl_run import prompts, tiny_model_and_tokenizer

    model, tokenizer = tiny_model_and_tokenizer()
    n = 24
    dataset = prompts(n)
    seen = []  # (prompt index, reward) of every completion, as TRL scored them

    def reward(completions, index, **_):
        scores = [1.0 if "a" in c or "b" in c else 0.0 for c in completions]
        seen.extend(zip(index, scores))
        return scores

    steps, prompts_per_step, generations = 4, 2, 4
    with mopps.launch(state_dir=str(tmp_path / "s")) as client:
        args = GRPOConfig(
            output_dir=str(tmp_path / "out"), per_device_train_batch_size=prompts_per_step * generations,
            num_generations=generations, max_completion_length=4, max_steps=steps, report_to=[], use_cpu=True,
            bf16=False, seed=3, save_strategy="no", disable_tqdm=True, logging_steps=steps)
        trainer = MoPPSGRPOTrainer(
            model=model, reward_funcs=reward, args=args, train_dataset=dataset, processing_class=tokenizer,
            mopps_client=client, candidates_ratio=3)
        trainer.train()
        info = client.list_pools()[0]
        assert info.update_count == steps and info.select_count >= steps
        post = client.get("trl")
        assert len(seen) == steps * prompts_per_step * generations
        successes = np.zeros(n)
        trials = np.zeros(n)
        for i, r in seen:
            trials[i] += 1
            successes[i] += r > 0
        # Default pool: prior Beta(1, 1), decay 1, so the posterior holds the exact counts.
        assert np.array_equal(post.alpha - 1, successes[post.ids.astype(int)])
        assert np.array_equal(post.beta - 1, (trials - successes)[post.ids.astype(int)])
        assert set(np.flatnonzero(trials)) <= set(range(n)) and (trials % generations == 0).all()
        assert client.health() == "SERVING"  # a client passed in stays the caller's


def test_the_index_column_must_be_the_row_number(tmp_path):
    from trl import GRPOConfig

    import mopps
    from trl_run import prompts, tiny_model_and_tokenizer

    model, tokenizer = tiny_model_and_tokenizer()
    shuffled = prompts(8).map(lambda row, i: {"index": (i * 3) % 8}, with_indices=True)
    args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=4,
                      max_steps=1, report_to=[], use_cpu=True, bf16=False)
    with mopps.launch(state_dir=str(tmp_path / "s")) as client:
        with pytest.raises(mopps.MoppsError, match="row 1 has 3"):
            MoPPSGRPOTrainer(model=model, reward_funcs=lambda completions, **_: [0.0] * len(completions), args=args,
                             train_dataset=shuffled, processing_class=tokenizer, mopps_client=client)


def test_a_new_run_in_an_old_output_dir_starts_from_a_fresh_pool(tmp_path):
    """The private moppsd keeps its state in <output_dir>/mopps-state (for resuming); a run that does
    not resume must not inherit the posteriors an earlier run left there."""
    from trl import GRPOConfig

    import mopps
    from trl_run import prompts, tiny_model_and_tokenizer

    def run():
        model, tokenizer = tiny_model_and_tokenizer()
        args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=4,
                          max_completion_length=4, max_steps=2, report_to=[], use_cpu=True, bf16=False,
                          save_strategy="no", disable_tqdm=True)
        trainer = MoPPSGRPOTrainer(model=model, reward_funcs=lambda completions, **_: [1.0] * len(completions),
                                   args=args, train_dataset=prompts(8), processing_class=tokenizer)
        trainer.train()
        assert trainer.mopps.process.popen.returncode == 0  # stopped with train()

    run()
    with pytest.warns(UserWarning, match="left in .* by an earlier run is dropped"):
        run()
    with mopps.launch(state_dir=str(tmp_path / "out" / "mopps-state")) as reader:
        info = reader.list_pools()[0]
        assert (info.update_count, info.strict_ids) == (2, True)
        assert (reader.get("trl").alpha - 1).sum() == 2 * 4  # the second run's 8 completions only


def tiny_grpo_args(output_dir, **overrides):
    from trl import GRPOConfig

    return GRPOConfig(**{**dict(output_dir=str(output_dir), per_device_train_batch_size=4, num_generations=4,
                                max_completion_length=4, max_steps=1, report_to=[], use_cpu=True, bf16=False,
                                save_strategy="no", disable_tqdm=True), **overrides})


def test_closing_a_trainer_stops_its_private_moppsd(tmp_path):
    """A trainer that is built but never trained (or trained, then closed) leaves no server behind."""
    from trl_run import prompts, tiny_model_and_tokenizer

    model, tokenizer = tiny_model_and_tokenizer()
    trainer = MoPPSGRPOTrainer(model=model, reward_funcs=lambda completions, **_: [0.0] * len(completions),
                               args=tiny_grpo_args(tmp_path / "out"), train_dataset=prompts(8),
                               processing_class=tokenizer)
    process = trainer.mopps.process
    assert process is not None and process.popen.poll() is None
    trainer.close()
    assert process.popen.returncode == 0 and trainer.mopps.closed
    assert not state_dir_in_use(tmp_path / "out" / "mopps-state")
    trainer.close()  # a second close (or train()'s own, after a close) changes nothing


def test_a_trainer_whose_set_up_fails_stops_the_moppsd_it_started(tmp_path):
    import mopps
    from trl_run import prompts, tiny_model_and_tokenizer

    state = tmp_path / "out" / "mopps-state"
    with mopps.launch(state_dir=str(state)) as client:
        client.create_pool("trl", seed=1, strict_ids=True)  # the trainer asks for its args.seed, 42
    model, tokenizer = tiny_model_and_tokenizer()
    with pytest.raises(mopps.RpcError, match="seed is 1") as e:
        MoPPSGRPOTrainer(model=model, reward_funcs=lambda completions, **_: [0.0] * len(completions),
                         args=tiny_grpo_args(tmp_path / "out", seed=42), train_dataset=prompts(8),
                         processing_class=tokenizer)
    assert e.value.code == mopps.StatusCode.FAILED_PRECONDITION
    assert not state_dir_in_use(state)  # stopped at once, not when the half-built trainer is collected


# -- several ranks and resuming: trl_run.py under accelerate, each run a fresh set of processes -----

RUN = Path(__file__).resolve().parent / "trl_run.py"
STEPS, SAVE_AT = 6, 3


def accelerate_run(out, *flags, timeout=600, stderr=None):
    """trl_run.py on 2 CPU processes. `accelerate launch --cpu --num_processes 2` starts ONE process
    (accelerate 1.15 without a config file): --multi_gpu with use_cpu=True in the training
    arguments is what gives 2 gloo ranks on a machine without GPUs."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path), OMP_NUM_THREADS="1")
    accelerate = Path(sys.executable).parent / "accelerate"
    subprocess.run([str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                    "--main_process_port", str(29500 + os.getpid() % 1000), str(RUN), "--out", str(out),
                    "--steps", str(STEPS), "--save-at", str(SAVE_AT), *flags], check=True, env=env, timeout=timeout,
                   stderr=stderr, text=True)
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("trl-2-ranks")
    return out, accelerate_run(out)


def test_two_ranks_share_each_selection_and_report_each_completion_once(full_run):
    import numpy as np

    _, (rank0, rank1) = full_run
    assert rank0["num_processes"] == rank1["num_processes"] == 2
    # TRL's RepeatSampler contract: every rank yields the same index sequence.
    assert rank0["selected"] == rank1["selected"]
    batches = len(rank0["selected"])
    assert batches in (STEPS, STEPS + 1)  # + the batch accelerate prefetched after the last step
    # One draw per generation batch, not one per rank; one Update per rank and step.
    assert rank0["pool"] == {"select_count": batches, "update_count": 2 * STEPS}
    # Every completion's reward arrived exactly once: the posterior holds the counts of both ranks.
    per_batch = rank0["generation_batch_size"]
    seen = rank0["seen"] + rank1["seen"]
    assert len(rank0["seen"]) == len(rank1["seen"]) == STEPS * per_batch // 2
    ids, alpha, beta = (np.asarray(a) for a in rank0["posterior"])
    successes, trials = np.zeros(len(ids)), np.zeros(len(ids))
    for i, r in seen:
        trials[i] += 1
        successes[i] += r > 0
    assert np.array_equal(alpha - 1, successes[ids]) and np.array_equal(beta - 1, (trials - successes)[ids])
    # The prompts trained on are those selected, each group of 4 completions of one prompt.
    chosen = sorted(i for batch in rank0["selected"][:STEPS] for i in batch for _ in range(4))
    assert sorted(i for i, _ in seen) == chosen
    # Staleness, measured: selection g is made after g - 1 reports (accelerate fetches one batch
    # ahead), i.e. it sees the rewards of all but the previous generation batch.
    assert rank0["reports_before"] == [0] + list(range(batches - 1))
    assert rank0["server_stopped"] and rank1["server_stopped"]


def test_mopps_metrics_reach_the_trainers_log_history(full_run):
    _, (rank0, _) = full_run
    logs = [entry for entry in rank0["log_history"] if "loss" in entry]
    assert len(logs) == STEPS
    seen_before = 0
    for entry in logs:
        for name in ("predicted_success", "realised_success", "effective_ratio", "all_solved", "all_failed"):
            assert 0.0 <= entry[f"mopps/{name}"] <= 1.0, name
        assert entry["mopps/effective_ratio"] + entry["mopps/all_solved"] + entry["mopps/all_failed"] == \
            pytest.approx(1.0)
        # Mixed groups are what TRL calls groups with non-zero reward std.
        assert entry["mopps/effective_ratio"] == pytest.approx(1 - entry["frac_reward_zero_std"])
        assert entry["mopps/realised_success"] == pytest.approx(entry["reward"])
        assert seen_before <= entry["mopps/prompts_with_data"] <= 24
        seen_before = entry["mopps/prompts_with_data"]
        assert 0 < entry["mopps/select_ms"] < 1000
    assert logs[0]["mopps/predicted_success"] == 0.5  # the prior, before any reward
    print("MoPPS overhead per step, ms (rank 0, rank 1):", rank0["overhead_ms"], full_run[1][1]["overhead_ms"])


def test_resume_from_a_checkpoint_selects_what_the_uninterrupted_run_did(full_run):
    out, (full0, _) = full_run
    checkpoint = out / "trainer" / f"checkpoint-{SAVE_AT}"
    assert json.loads((checkpoint / "mopps_state.json").read_text())["tag"].endswith(f"-step-{SAVE_AT}")
    rank0, rank1 = accelerate_run(out, "--resume", str(checkpoint))
    assert rank0["selected"] == rank1["selected"] == full0["selected"]
    assert len(rank0["seen"]) == (STEPS - SAVE_AT) * rank0["generation_batch_size"] // 2
    assert rank0["posterior"] == full0["posterior"]
    assert rank0["pool"] == full0["pool"]


def test_a_checkpoint_without_the_selector_state_fails_on_every_rank(full_run, tmp_path):
    """Refused on the main process, the resume fails on both ranks (no rank left waiting)."""
    import shutil

    out, _ = full_run
    checkpoint = tmp_path / "checkpoint-3"
    shutil.copytree(out / "trainer" / f"checkpoint-{SAVE_AT}", checkpoint)
    (checkpoint / "mopps_state.json").unlink()
    with pytest.raises(subprocess.CalledProcessError) as e:
        accelerate_run(tmp_path / "run", "--resume", str(checkpoint), timeout=120, stderr=subprocess.PIPE)
    assert e.value.stderr.count("mopps_state.json is missing") >= 2  # raised by both ranks
    assert not (tmp_path / "run" / "rank0.json").exists() and not (tmp_path / "run" / "rank1.json").exists()


@pytest.mark.parametrize("strategy,settings", [("dps", {"decay": 0.7}), ("greso", {"p_easy": 0.6}),
                                               ("pools", {"weight_hard": 0.1})])
def test_grpo_trains_with_every_zoo_strategy(tmp_path, strategy, settings):
    from trl import GRPOConfig

    import mopps
    from trl_run import prompts, tiny_model_and_tokenizer

    model, tokenizer = tiny_model_and_tokenizer()
    steps = 3
    with mopps.launch(state_dir=str(tmp_path / "s")) as client:
        args = GRPOConfig(
            output_dir=str(tmp_path / "out"), per_device_train_batch_size=8, num_generations=4,
            max_completion_length=4, max_steps=steps, report_to=[], use_cpu=True, bf16=False, seed=3,
            save_strategy="no", disable_tqdm=True, logging_steps=steps)
        trainer = MoPPSGRPOTrainer(
            model=model, reward_funcs=lambda completions, **_: [float("a" in c) for c in completions], args=args,
            train_dataset=prompts(24), processing_class=tokenizer, mopps_client=client, candidates_ratio=3,
            mopps_strategy=strategy, mopps_strategy_config=settings)
        trainer.train()
        info = client.list_pools()[0]
        assert info.strategy == strategy and getattr(info, strategy)[next(iter(settings))] == pytest.approx(
            next(iter(settings.values())))
        assert info.update_count == steps and info.steps == steps
