"""mopps.verl.MoPPSSampler with stand-ins for verl's config and DataProto (no verl needed).
`make test-verl` runs the same sampler inside the real verl 0.7.1."""

import types

import numpy as np

from mopps.verl import MoPPSSampler


def config(endpoint, **mopps):
    return {"train_batch_size": 8, "sampler": {"mopps": {"endpoint": endpoint, "seed": 3, **mopps}}}


def step_batch(indices, rewards):
    return types.SimpleNamespace(
        non_tensor_batch={"index": np.asarray(indices)},
        batch={"token_level_scores": np.asarray(rewards, dtype=float)[:, None] * np.array([[0.0, 0.0, 1.0]])},
    )


def test_yields_batches_of_dataset_indices(server):
    sampler = MoPPSSampler(list(range(100)), config(server.listen, candidates_ratio=4))
    assert len(sampler) == 100
    indices = list(sampler)
    assert len(indices) == 96  # 12 steps of 8
    assert all(0 <= i < 100 for i in indices)
    for k in range(0, 96, 8):
        assert len(set(indices[k:k + 8])) == 8
    sampler.close()


def test_update_groups_rollouts_by_prompt(server):
    sampler = MoPPSSampler(list(range(50)), config(server.listen))
    # Prompt 3: 4 rollouts, 3 rewarded; prompt 9: 4 rollouts, none.
    sampler.update(step_batch([3, 3, 9, 9, 3, 9, 3, 9], [1, 1, 0, 0, 1, 0, 0, 0]))
    got = sampler.client.get("verl", [3, 9])
    assert got.alpha.tolist() == [4.0, 1.0] and got.beta.tolist() == [2.0, 5.0]
    # The acc field wins over token scores when the reward function reports it.
    b = step_batch([4, 4], [0, 0])
    b.non_tensor_batch["acc"] = np.array([1.0, 1.0])
    sampler.update(b)
    assert sampler.client.get("verl", [4]).alpha[0] == 3.0
    sampler.close()


def test_selection_prefers_informative_prompts(server):
    """After feedback, prompts that are always solved or never solved are picked less often."""
    sampler = MoPPSSampler(list(range(40)), config(server.listen, candidates_ratio=5))
    easy, hard, mixed = range(0, 15), range(15, 30), range(30, 40)
    for _ in range(3):
        idx = np.repeat(np.arange(40), 8)
        rewards = np.array([1.0 if i in easy else 0.0 if i in hard else float(k % 2) for i in range(40) for k in range(8)])
        sampler.update(step_batch(idx, rewards))
    picks = list(sampler)
    share_mixed = np.mean([i in mixed for i in picks])
    assert share_mixed > 0.6, share_mixed  # 25% of the data, most of the batches
    sampler.close()


class FakeTrainer:
    """The part of verl's RayPPOTrainer that with_sampler_updates relies on."""

    def __init__(self, sampler):
        self.train_dataloader = types.SimpleNamespace(sampler=sampler)
        self.actor_updates = 0

    def _update_actor(self, batch):
        self.actor_updates += 1
        return "actor output"


def test_trainer_subclass_feeds_the_sampler_once_per_step(server):
    from mopps.verl import with_sampler_updates

    sampler = MoPPSSampler(list(range(20)), config(server.listen))
    trainer = with_sampler_updates(FakeTrainer, calls_update=False)(sampler)
    assert trainer._update_actor(step_batch([2, 2], [1, 0])) == "actor output"
    assert trainer.actor_updates == 1
    got = sampler.client.get("verl", [2])
    assert got.alpha[0] == 2.0 and got.beta[0] == 2.0  # one update: 1 success, 1 failure
    # Where the trainer already calls update (verl 0.5-0.7) the subclass adds nothing.
    trainer_07 = with_sampler_updates(FakeTrainer, calls_update=True)(sampler)
    trainer_07._update_actor(step_batch([2], [1]))
    assert sampler.client.get("verl", [2]).alpha[0] == 2.0
    sampler.close()
