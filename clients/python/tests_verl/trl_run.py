"""One short GRPO training run with MoPPSGRPOTrainer on CPU — a tiny randomly initialised GPT-2 and a
word-level tokenizer built here (no download) — as a program of its own, so that it can run under
`accelerate launch --cpu --num_processes 2` and resume in a fresh process. Each rank writes what it
saw to `<out>/rank<r>.json`: the batches its sampler yielded, every completion's (prompt, reward)
it scored, the trainer's log history and, on the main process, the pool's final posterior.

    accelerate launch --cpu --num_processes 2 trl_run.py --out DIR --steps 6 --save-at 3 [--resume CKPT]
"""

import argparse
import json
import os


def tiny_model_and_tokenizer():
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoModelForCausalLM, GPT2Config, PreTrainedTokenizerFast

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
    return model, tokenizer


def prompts(n):
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [f"solve : {'abcdefghij'[i % 10]}" for i in range(n)], "index": list(range(n))})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--save-at", type=int, default=0)
    ap.add_argument("--resume", default=None)
    ap.add_argument("--prompts", type=int, default=24)
    args = ap.parse_args()

    from trl import GRPOConfig

    from mopps.trl import MoPPSGRPOTrainer

    model, tokenizer = tiny_model_and_tokenizer()
    seen = []  # (prompt index, reward) of every completion this rank scored

    def reward(completions, index, **_):
        scores = [1.0 if "a" in c or "b" in c else 0.0 for c in completions]
        seen.extend(zip(index, scores))
        return scores

    config = GRPOConfig(
        output_dir=os.path.join(args.out, "trainer"), per_device_train_batch_size=4, num_generations=4,
        max_completion_length=4, max_steps=args.steps, report_to=[], use_cpu=True, bf16=False, seed=3,
        save_strategy="steps" if args.save_at else "no", save_steps=args.save_at or 500, disable_tqdm=True,
        logging_steps=1)
    trainer = MoPPSGRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=prompts(args.prompts),
                               processing_class=tokenizer, candidates_ratio=3)
    client = trainer.mopps
    trainer.train(resume_from_checkpoint=args.resume)
    sampler = trainer._mopps_sampler
    record = {
        "rank": trainer.accelerator.process_index,
        "num_processes": trainer.accelerator.num_processes,
        "generation_batch_size": config.generation_batch_size,
        "selected": [b.tolist() for b in sampler.selected],
        "reports_before": sampler.reports_before,
        "seen": seen,
        "log_history": trainer.state.log_history,
        "overhead_ms": trainer.mopps_overhead_ms,
        "server_stopped": client.closed and (client.process is None or client.process.popen.poll() == 0),
    }
    if trainer.accelerator.is_main_process:
        # The private server stopped with train(); read the pool's final state from its state dir.
        import mopps

        with mopps.launch(state_dir=os.path.join(config.output_dir, "mopps-state")) as reader:
            post = reader.get("trl")
            info = reader.list_pools()[0]
            record["posterior"] = [post.ids.tolist(), post.alpha.tolist(), post.beta.tolist()]
            record["pool"] = {"select_count": info.select_count, "update_count": info.update_count}
    with open(os.path.join(args.out, f"rank{record['rank']}.json"), "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
