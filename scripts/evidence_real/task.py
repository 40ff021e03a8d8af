"""The task, the tokenizer and the starting policy of the real-trainer evidence run.

Task: integer ``+``, ``-`` and ``×`` with 1–5-digit operands (``"347*26="`` → ``"9022"``), answers
checked exactly. The operands' digit counts and the operator are drawn uniformly, so the mix runs
from one-digit sums (learnt in the SFT warm-up) to five-digit products (never solved by a model
this small): a wide spread of difficulty with a band in between where a group of rollouts has
mixed rewards. The RL prompts and the held-out test set are disjoint draws of the same mix.

Policy: a Llama of two layers and 64 dimensions over a character vocabulary built here (no
download), trained with supervised learning for a fixed number of steps on fresh problems of the
same mix until easy items are mostly solved and hard ones rarely; saved once in a cache folder and
loaded by every RL run, so every strategy and seed starts from the same weights.

>>> from evidence_real.task import make_problems, exact_match     # doctest: +SKIP
>>> make_problems(2, seed=0)[0].prompt                             # doctest: +SKIP
'4021-7='
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

OPS = ("+", "-", "*")
MAX_DIGITS = 5
#: The longest answer (a 5×5-digit product has 10 digits) plus the end token.
MAX_COMPLETION = 11
SPECIAL = ["<pad>", "<eos>"]
CHARS = list("0123456789+-*=")


@dataclass(frozen=True)
class Problem:
    """One arithmetic item: ``prompt`` such as ``"12*7="``, ``answer`` such as ``"84"``; ``digits`` and
    ``op`` describe its difficulty cell."""

    prompt: str
    answer: str
    digits: Tuple[int, int]
    op: str


#: P(an operand has d digits), d = 1 … 5: skewed to short operands so that the easy end of the mix
#: is common enough to be learnt in a short warm-up, while every cell up to 5×5 digits occurs.
DIGIT_WEIGHTS = np.array([5.0, 4.0, 3.0, 2.0, 1.0]) / 15.0


def _draw(rng: np.random.Generator) -> Problem:
    d1, d2 = (int(d) for d in rng.choice(np.arange(1, MAX_DIGITS + 1), size=2, p=DIGIT_WEIGHTS))
    op = OPS[int(rng.integers(len(OPS)))]

    def operand(d: int) -> int:
        return int(rng.integers(0 if d == 1 else 10 ** (d - 1), 10**d))

    a, b = operand(d1), operand(d2)
    value = a + b if op == "+" else a - b if op == "-" else a * b
    text = str(abs(value))[::-1] + ("-" if value < 0 else "")
    return Problem(f"{a}{op}{b}=", text, (d1, d2), op)


def make_problems(n: int, *, seed: int, exclude: Sequence[Problem] = ()) -> List[Problem]:
    """``n`` distinct problems of the mix (none of whose prompts is in ``exclude``)."""
    rng = np.random.default_rng([seed, 19])
    seen = {p.prompt for p in exclude}
    out: List[Problem] = []
    while len(out) < n:
        p = _draw(rng)
        if p.prompt not in seen:
            seen.add(p.prompt)
            out.append(p)
    return out


def exact_match(completion: str, answer: str) -> float:
    """The verifiable reward: 1.0 when the completion (up to the end token) is the answer exactly."""
    return 1.0 if completion.split("<eos>")[0].strip() == answer else 0.0


def make_tokenizer() -> Any:
    """A character-level ``PreTrainedTokenizerFast`` (pad 0, eos 1, then the 14 characters)."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIAL + CHARS)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<pad>"))
    backend.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    backend.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="<eos>")
    tokenizer.padding_side = "left"
    return tokenizer


def make_model(seed: int = 0) -> Any:
    """The untrained policy: a Llama of 2 layers, 64 dimensions, 4 heads (~0.1 M parameters).

    Rotary positions, not GPT-2's absolute ones: TRL left-pads prompts, generates with positions
    counted from the first real token but scores the completions (``_get_per_token_logps…``) without
    ``position_ids``, i.e. from the first pad. With absolute position embeddings the scored
    distribution is not the sampled one and GRPO degrades the policy; rotary attention depends on
    relative positions only, so the shift does not matter."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(SPECIAL) + len(CHARS), hidden_size=64, intermediate_size=192,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=32, bos_token_id=1, eos_token_id=1, pad_token_id=0,
                         tie_word_embeddings=True)
    return AutoModelForCausalLM.from_config(config)


def _batch(tokenizer: Any, problems: Sequence[Problem]) -> Dict[str, Any]:
    """Right-padded prompt+answer+eos with the loss on the answer and eos only."""
    import torch

    rows = [tokenizer(p.prompt + p.answer)["input_ids"] + [tokenizer.eos_token_id] for p in problems]
    starts = [len(p.prompt) for p in problems]
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (row, start) in enumerate(zip(rows, starts)):
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, :len(row)] = 1
        labels[i, start:len(row)] = torch.tensor(row[start:])
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def sft(model: Any, tokenizer: Any, *, steps: int, batch: int = 64, lr: float = 3e-3, seed: int = 0) -> None:
    """Supervised warm-up on fresh problems of the mix (AdamW, linear decay)."""
    import torch

    rng = np.random.default_rng([seed, 7])
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0 - s / max(1, steps))
    model.train()
    for _ in range(steps):
        loss = model(**_batch(tokenizer, [_draw(rng) for _ in range(batch)])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()


def greedy_correct(model: Any, tokenizer: Any, problems: Sequence[Problem], *, batch: int = 256) -> np.ndarray:
    """Whether greedy decoding answers each problem exactly (bool array)."""
    import torch

    was_training = model.training
    model.eval()
    out = np.zeros(len(problems), dtype=bool)
    with torch.no_grad():
        for s in range(0, len(problems), batch):
            chunk = problems[s:s + batch]
            enc = tokenizer([p.prompt for p in chunk], return_tensors="pt", padding=True)
            gen = model.generate(**enc, max_new_tokens=MAX_COMPLETION, do_sample=False,
                                 pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
            texts = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            out[s:s + len(chunk)] = [exact_match(t, p.answer) > 0 for t, p in zip(texts, chunk)]
    if was_training:
        model.train()
    return out


def sampled_accuracy(model: Any, tokenizer: Any, problems: Sequence[Problem], *, samples: int = 4,
                     temperature: float = 1.0, seed: int = 0, batch: int = 400) -> np.ndarray:
    """Each problem's share of ``samples`` completions, drawn at the training temperature, that are
    exact (avg@k): the quantity GRPO optimises, measured on problems it never trains on. The
    sampling RNG is re-seeded with ``seed`` so that two policies are compared on the same draws."""
    import torch

    was_training = model.training
    model.eval()
    rows = [p for p in problems for _ in range(samples)]
    hits = np.zeros(len(rows))
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    with torch.no_grad():
        for s in range(0, len(rows), batch):
            chunk = rows[s:s + batch]
            enc = tokenizer([p.prompt for p in chunk], return_tensors="pt", padding=True)
            gen = model.generate(**enc, max_new_tokens=MAX_COMPLETION, do_sample=True, temperature=temperature,
                                 top_k=0, top_p=1.0, pad_token_id=tokenizer.pad_token_id,
                                 eos_token_id=tokenizer.eos_token_id)
            texts = tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
            hits[s:s + len(chunk)] = [exact_match(t, p.answer) for t, p in zip(texts, chunk)]
    torch.random.set_rng_state(state)
    if was_training:
        model.train()
    per_problem: np.ndarray = hits.reshape(len(problems), samples).mean(axis=1)
    return per_problem


def accuracy_by_cell(problems: Sequence[Problem], correct: np.ndarray) -> Dict[str, float]:
    """Greedy accuracy per operator and per larger operand length (what "easy" and "hard" mean)."""
    out: Dict[str, float] = {}
    for op in OPS:
        for d in range(1, MAX_DIGITS + 1):
            sel = [i for i, p in enumerate(problems) if p.op == op and max(p.digits) == d]
            if sel:
                out[f"{op}{d}"] = float(correct[sel].mean())
    return out


def starting_policy(cache_dir: str, *, sft_steps: int, seed: int = 0) -> str:
    """The folder of the SFT'd policy (model + tokenizer), trained on first use and reused after: a
    folder made with other settings is refused rather than silently mixed."""
    import torch

    folder = os.path.join(cache_dir, f"policy-llama-sft{sft_steps}-s{seed}")
    meta_path = os.path.join(folder, "sft.json")
    if os.path.exists(meta_path):
        return folder
    torch.manual_seed(seed)
    tokenizer, model = make_tokenizer(), make_model(seed)
    t0 = time.perf_counter()
    sft(model, tokenizer, steps=sft_steps, seed=seed)
    seconds = time.perf_counter() - t0
    probe = make_problems(600, seed=10_000 + seed)
    correct = greedy_correct(model, tokenizer, probe)
    os.makedirs(folder, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with open(meta_path, "w", encoding="utf-8") as f:
        json.dump({"sft_steps": sft_steps, "seed": seed, "seconds": seconds, "probe_accuracy": float(correct.mean()),
                   "probe_by_cell": accuracy_by_cell(probe, correct)}, f, indent=1)
    return folder


def load_policy(folder: str) -> Tuple[Any, Any]:
    """The saved starting policy and its tokenizer."""
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(folder)
    tokenizer.padding_side = "left"
    return AutoModelForCausalLM.from_pretrained(folder), tokenizer
