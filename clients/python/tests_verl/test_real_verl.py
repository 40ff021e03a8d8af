"""mopps.verl.MoPPSSampler inside the real verl 0.7.1 (CPU torch): built by verl's own
create_rl_sampler from a data config, driven by its StatefulDataLoader, updated with real DataProto
batches the way RayPPOTrainer.fit does (`sampler.update(batch=batch)`). Run by `make test-verl`."""

import numpy as np
import torch
from omegaconf import OmegaConf
from torchdata.stateful_dataloader import StatefulDataLoader
from verl import DataProto
from verl.experimental.dataset.sampler import AbstractCurriculumSampler
from verl.trainer.main_ppo import create_rl_sampler
from verl.trainer.ppo.ray_trainer import RayPPOTrainer  # noqa: F401  (the trainer that calls update)

import mopps
import mopps.verl
from verl_run import Prompts


def test_sampler_runs_inside_verl(tmp_path):
    with mopps.launch(state_dir=str(tmp_path / "s")) as client:
        cfg = OmegaConf.create({
            "train_batch_size": 8,
            "dataloader_num_workers": 0,
            "shuffle": False,
            "sampler": {
                "class_path": "pkg://mopps.verl",
                "class_name": "MoPPSSampler",
                "mopps": {"endpoint": client.endpoint, "seed": 1, "candidates_ratio": 4},
            },
        })
        dataset = Prompts()
        sampler = create_rl_sampler(cfg, dataset)
        assert isinstance(sampler, AbstractCurriculumSampler)
        loader = StatefulDataLoader(dataset, batch_size=8, sampler=sampler, drop_last=True, num_workers=0)
        rng = np.random.default_rng(0)
        steps = 0
        for batch in loader:
            idx = batch["index"].numpy()
            assert len(set(idx.tolist())) == 8
            rollouts = np.repeat(idx, 4)  # 4 responses per prompt, interleaved as verl repeats them
            rewards = (rng.random(len(rollouts)) < (rollouts % 8) / 7).astype(np.float32)
            scores = torch.zeros((len(rollouts), 5))
            scores[:, -1] = torch.from_numpy(rewards)
            proto = DataProto.from_dict(tensors={"token_level_scores": scores}, non_tensors={"index": rollouts})
            sampler.update(batch=proto)
            steps += 1
        assert steps == 8
        info = client.list_pools()[0]
        assert info.update_count == 8
        post = client.get("verl")
        trials = post.alpha + post.beta - 2
        assert trials.sum() == 8 * 8 * 4  # every rollout counted once
        sampler.close()


def test_trainer_subclass_fits_the_real_trainer():
    import inspect

    from mopps.verl import with_sampler_updates

    sub = with_sampler_updates(RayPPOTrainer)
    assert issubclass(sub, RayPPOTrainer) and sub.__name__ == "MoPPSRayPPOTrainer"
    assert list(inspect.signature(RayPPOTrainer._update_actor).parameters) == ["self", "batch"]
    assert "self._update_actor(batch)" in inspect.getsource(RayPPOTrainer.fit)


def test_resume_selects_what_the_uninterrupted_run_did(tmp_path):
    """verl 0.7's order: the checkpoint (data.pt, with the sampler's state) is written before the
    step's sampler.update; the sampler's tag still holds that step's rewards."""
    from resume_check import check_resume

    check_resume(tmp_path, "--config-path")


def test_a_state_of_another_pool_or_format_is_refused(tmp_path):
    import pytest

    with mopps.launch(state_dir=str(tmp_path / "s")) as client:
        cfg = OmegaConf.create({"train_batch_size": 8, "sampler": {"mopps": {"endpoint": client.endpoint, "seed": 1}}})
        sampler = mopps.verl.MoPPSSampler(Prompts(), cfg)
        next(iter(sampler))
        state = sampler.state_dict()
        assert (state["format"], state["pool"], state["epoch"], state["batch"]) == (1, "verl", 0, 1)
        assert {s.tag for s in client.list_snapshots("verl")} == set() and state["tag"] == "verl-step-1"
        with pytest.raises(mopps.MoppsError, match='pool "other"'):
            sampler.load_state_dict({**state, "pool": "other"})
        with pytest.raises(mopps.MoppsError, match="format 2"):
            sampler.load_state_dict({**state, "format": 2})
        with pytest.raises(mopps.MoppsError, match="verl-step-1"):  # its update never came: no tag
            sampler.load_state_dict(state)
        sampler.close()


def test_every_zoo_strategy_from_a_hydra_config(tmp_path):
    """strategy and strategy_config as OmegaConf nodes (what Hydra overrides make), for each strategy."""
    for strategy, settings in (("dps", {"decay": 0.7, "prior_counts": [1.0] * 9}), ("greso", {"adapt": False}),
                               ("pools", {"weight_easy": 0.3})):
        with mopps.launch(state_dir=str(tmp_path / strategy)) as client:
            cfg = OmegaConf.create({
                "train_batch_size": 8, "dataloader_num_workers": 0, "shuffle": False,
                "sampler": {"class_path": "pkg://mopps.verl", "class_name": "MoPPSSampler",
                            "mopps": {"endpoint": client.endpoint, "seed": 1, "candidates_ratio": 2,
                                      "strategy": strategy, "strategy_config": settings}},
            })
            sampler = create_rl_sampler(cfg, Prompts())
            info = client.list_pools()[0]
            assert info.strategy == strategy
            assert all(getattr(info, strategy)[k] == v for k, v in settings.items())
            first = [next(iter(sampler)) for _ in range(1)]
            assert len(first) == 1
            sampler.close()
