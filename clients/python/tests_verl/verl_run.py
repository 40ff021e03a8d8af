"""One short verl-style training run with MoPPS choosing the prompts, as a program of its own so that
a resume happens in a fresh process. Shared by the verl 0.7.1 and 0.9.1 tests.

verl's own `RayPPOTrainer._create_dataloader` builds the StatefulDataLoader around the sampler;
each step mirrors `RayPPOTrainer.fit`: `_update_actor(batch)`, then at the checkpoint step
`torch.save(train_dataloader.state_dict(), data.pt)` (verl's `_save_checkpoint`), then — verl 0.5-0.7
without the subclass — `sampler.update(batch=batch)`. `--resume` loads data.pt into a new loader
as verl's `_load_checkpoint` does. Rewards are a fixed function of (step, prompt, rollout), so an
uninterrupted run and a resumed one see the same rewards for the same batches.

    python verl_run.py --state-dir S --ckpt data.pt --out run.json [--resume] [--subclass] [--config-path]
"""

import argparse
import json

import numpy as np
import torch
from omegaconf import OmegaConf
from torch.utils.data import Dataset
from verl import DataProto
from verl.trainer.ppo.ray_trainer import RayPPOTrainer
from verl.utils.metric import reduce_metrics

from mopps.verl import MoPPSSampler, with_sampler_updates

ROLLOUTS = 4


class Prompts(Dataset):
    """64 prompts; prompt i's hidden success rate is (i % 8) / 7."""

    def __len__(self):
        return 64

    def __getitem__(self, i):
        return {"index": i, "input_ids": torch.full((4,), i)}


class ActorStub(RayPPOTrainer):
    """The real trainer with the actor update (which needs Ray workers) replaced."""

    def _update_actor(self, batch):
        return DataProto(meta_info={"metrics": {"actor/pg_loss": [0.1, 0.3]}})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dir", required=True)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--save-at", type=int, default=3)
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--subclass", action="store_true", help="feed the sampler through with_sampler_updates")
    ap.add_argument("--config-path", action="store_true", help="verl builds the sampler from data.sampler")
    args = ap.parse_args()

    data = OmegaConf.create({
        "train_batch_size": 8, "val_batch_size": 8, "dataloader_num_workers": 0, "shuffle": False,
        "sampler": {"class_path": "pkg://mopps.verl", "class_name": "MoPPSSampler",
                    "mopps": {"state_dir": args.state_dir, "seed": 1, "candidates_ratio": 4}},
    })
    trainer_cls = with_sampler_updates(ActorStub) if args.subclass else ActorStub
    trainer = trainer_cls.__new__(trainer_cls)  # without __init__, which starts Ray worker groups
    trainer.config = OmegaConf.create({"data": data, "trainer": {"total_epochs": 1, "total_training_steps": None}})
    sampler = None if args.config_path else MoPPSSampler(Prompts(), data)
    trainer._create_dataloader(Prompts(), Prompts(), None, sampler)
    loader = trainer.train_dataloader
    sampler = loader.sampler
    assert isinstance(sampler, MoPPSSampler)
    step = 0
    if args.resume:
        loader.load_state_dict(torch.load(args.ckpt, weights_only=False))
        step = args.save_at
    record = {"batches": {}, "metrics": {}}
    for batch in loader:
        step += 1
        idx = np.asarray(batch["index"])
        record["batches"][step] = idx.tolist()
        rollouts = np.repeat(idx, ROLLOUTS)
        rng = np.random.default_rng([7, step])
        rewards = (rng.random(len(rollouts)) < (rollouts % 8) / 7).astype(np.float32)
        scores = torch.zeros((len(rollouts), 5))
        scores[:, -1] = torch.from_numpy(rewards)
        proto = DataProto.from_dict(tensors={"token_level_scores": scores}, non_tensors={"index": rollouts})
        output = trainer._update_actor(proto)
        if args.subclass:
            record["metrics"][step] = reduce_metrics(output.meta_info["metrics"])
        if step == args.save_at:
            torch.save(loader.state_dict(), args.ckpt)
        if not args.subclass:
            sampler.update(batch=proto)
        if step == args.steps:
            break
    post = sampler.client.get("verl")
    record["posterior"] = [post.ids.tolist(), post.alpha.tolist(), post.beta.tolist()]
    record["pool"] = {k: v for k, v in vars(sampler.client.list_pools()[0]).items() if k.endswith("count")}
    sampler.close()
    with open(args.out, "w") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
