"""mopps.verl on the real verl 0.9.1 (CPU torch), whose trainer no longer calls a sampler's `update`:
the sampler goes in through `RayPPOTrainer(train_sampler=…)` and `with_sampler_updates` feeds it from
`_update_actor`. Verl's own `_create_dataloader` builds the loader here, and real `DataProto` batches
flow through the subclass's `_update_actor` as `fit` would pass them. Run by `make test-verl`."""

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from verl import DataProto
from verl.trainer.ppo.ray_trainer import RayPPOTrainer

import mopps
import mopps.verl
from mopps.verl import MoPPSSampler, with_sampler_updates

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests_verl"))
from verl_run import Prompts  # noqa: E402  (the verl tests' dataset, shared with the resume runs)


def test_this_verl_has_no_sampler_hook():
    with pytest.raises(ImportError):
        import verl.experimental.dataset.sampler  # noqa: F401
    assert mopps.verl._VERL_CALLS_UPDATE is False
    assert "train_sampler" in inspect.signature(RayPPOTrainer.__init__).parameters
    assert list(inspect.signature(RayPPOTrainer._update_actor).parameters) == ["self", "batch"]
    assert "self._update_actor(batch)" in inspect.getsource(RayPPOTrainer.fit)


def test_subclass_feeds_the_sampler_through_verls_own_dataloader(tmp_path):
    class ActorStub(RayPPOTrainer):
        """The real trainer with the actor update (which needs Ray workers) replaced by a counter."""

        def _update_actor(self, batch):
            self.actor_updates += 1
            return DataProto(meta_info={"metrics": {}})

    trainer_cls = with_sampler_updates(ActorStub)
    assert trainer_cls.__name__ == "MoPPSActorStub" and issubclass(trainer_cls, RayPPOTrainer)
    with mopps.launch(state_dir=str(tmp_path / "s")) as client:
        data = OmegaConf.create({
            "train_batch_size": 8, "val_batch_size": 8, "dataloader_num_workers": 0,
            "sampler": {"mopps": {"endpoint": client.endpoint, "seed": 1, "candidates_ratio": 4}},
        })
        sampler = MoPPSSampler(Prompts(), data)
        # Without __init__ (it starts Ray worker groups); _create_dataloader is verl's own code.
        trainer = trainer_cls.__new__(trainer_cls)
        trainer.config = OmegaConf.create(
            {"data": data, "trainer": {"total_epochs": 1, "total_training_steps": None}})
        trainer.actor_updates = 0
        trainer._create_dataloader(Prompts(), Prompts(), None, sampler)
        assert trainer.train_dataloader.sampler is sampler
        rng = np.random.default_rng(0)
        steps = 0
        for batch in trainer.train_dataloader:
            idx = np.asarray(batch["index"])
            assert len(set(idx.tolist())) == 8
            rollouts = np.repeat(idx, 4)
            rewards = (rng.random(len(rollouts)) < (rollouts % 8) / 7).astype(np.float32)
            scores = torch.zeros((len(rollouts), 5))
            scores[:, -1] = torch.from_numpy(rewards)
            proto = DataProto.from_dict(tensors={"token_level_scores": scores}, non_tensors={"index": rollouts})
            assert "mopps/realised_success" in trainer._update_actor(proto).meta_info["metrics"]
            steps += 1
        assert steps == 8 and trainer.actor_updates == 8
        assert client.list_pools()[0].update_count == 8
        post = client.get("verl")
        assert (post.alpha + post.beta - 2).sum() == 8 * 8 * 4  # every rollout counted once
        sampler.close()


def test_resume_and_metrics_through_the_subclass(tmp_path):
    """The sampler fed by with_sampler_updates' _update_actor (before verl saves the checkpoint):
    a resume in a fresh process selects the uninterrupted run's batches, and every step's mopps/
    metrics come out of verl's reduce_metrics with the actor's."""
    from resume_check import check_resume

    full = check_resume(tmp_path, "--subclass")
    for step, metrics in full["metrics"].items():
        assert metrics["actor/pg_loss"] == pytest.approx(0.2)
        for name in ("predicted_success", "realised_success", "effective_ratio", "all_solved", "all_failed"):
            assert 0.0 <= metrics[f"mopps/{name}"] <= 1.0, (step, name)
        assert metrics["mopps/effective_ratio"] + metrics["mopps/all_solved"] + metrics["mopps/all_failed"] == \
            pytest.approx(1.0)
        assert 8 <= metrics["mopps/prompts_with_data"] <= 8 * int(step)
        assert 0 < metrics["mopps/select_ms"] < 1000
    assert full["metrics"]["1"]["mopps/predicted_success"] == 0.5  # the prior's mean, before any reward
    assert full["metrics"]["1"]["mopps/prompts_with_data"] == 8
