"""mopps.trl.MoPPSGRPOTrainer against the real TRL 1.16: the methods it overrides still exist with the
signatures it relies on, and a GRPO training run end to end on CPU with a tiny randomly initialised
GPT-2 and a word-level tokenizer built here (no download), checking that every completion's reward
reaches moppsd's posterior exactly."""

import inspect

from trl import GRPOTrainer
from trl.trainer.utils import RepeatSampler

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
    import torch
    from datasets import Dataset
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoModelForCausalLM, GPT2Config, PreTrainedTokenizerFast
    from trl import GRPOConfig

    import mopps

    words = ["<pad>", "<eos>", "<unk>", "solve", ":"] + list("abcdefghij")
    vocab = {w: i for i, w in enumerate(words)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    tokenizer.padding_side = "left"
    torch.manual_seed(0)  # the model's random initialisation
    model = AutoModelForCausalLM.from_config(GPT2Config(
        vocab_size=len(vocab), n_positions=64, n_embd=16, n_layer=1, n_head=2, bos_token_id=1, eos_token_id=1,
        pad_token_id=0))
    n = 24
    dataset = Dataset.from_dict({"prompt": [f"solve : {'abcdefghij'[i % 10]}" for i in range(n)], "index": list(range(n))})
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
