"""mopps.verl.MoPPSSampler with stand-ins for verl's config and DataProto (no verl needed).
`make test-verl` runs the same sampler inside the real verl 0.7.1."""

import types

import numpy as np
import pytest

import mopps

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
        return types.SimpleNamespace(meta_info={"metrics": {"actor/loss": [0.5]}})


def test_trainer_subclass_feeds_the_sampler_once_per_step(server):
    from mopps.verl import with_sampler_updates

    sampler = MoPPSSampler(list(range(20)), config(server.listen))
    list(zip(range(8), sampler))  # choose the first batch (its posterior means feed the metrics)
    trainer = with_sampler_updates(FakeTrainer)(sampler)
    batch = step_batch([2, 2, 3, 3], [1, 0, 1, 1])
    output = trainer._update_actor(batch)
    assert trainer.actor_updates == 1
    got = sampler.client.get("verl", [2, 3])
    assert got.alpha.tolist() == [2.0, 3.0] and got.beta.tolist() == [2.0, 1.0]  # one update
    # verl 0.5-0.7 then call update(batch) with the same batch themselves: not counted again.
    sampler.update(batch)
    assert sampler.client.get("verl", [2, 3]).alpha.tolist() == [2.0, 3.0]
    assert sampler.client.list_pools()[0].update_count == 1
    # The step's mopps/ metrics ride along with the actor's, which verl logs with the step.
    metrics = output.meta_info["metrics"]
    assert metrics["actor/loss"] == [0.5]
    assert metrics["mopps/realised_success"] == 0.75  # (1/2 + 2/2) / 2
    assert metrics["mopps/effective_ratio"] == 0.5 and metrics["mopps/all_solved"] == 0.5
    assert metrics["mopps/all_failed"] == 0.0 and metrics["mopps/prompts_with_data"] == 2.0
    assert metrics["mopps/select_ms"] > 0
    sampler.close()


def test_the_index_column_must_be_the_row_number(server):
    import pytest

    import mopps

    class Frame(dict):
        column_names = ["prompt", "extra_info"]

    class RLHFLike(list):
        def __init__(self, extra_info):
            super().__init__(range(len(extra_info)))
            self.dataframe = Frame(extra_info=extra_info)

    MoPPSSampler(RLHFLike([{"index": i} for i in range(10)]), config(server.listen)).close()
    # A missing index (verl fills 0), filtered rows, concatenated train_files: refused, naming the row.
    for extra_info, row in (([{}] * 10, 1), ([{"index": i} for i in range(10) if i != 4], 4),
                            ([{"index": i % 5} for i in range(10)], 5)):
        with pytest.raises(mopps.MoppsError, match=f"row {row} has"):
            MoPPSSampler(RLHFLike(extra_info), config(server.listen))
    # Datasets of row mappings: row[index_key].
    with pytest.raises(mopps.MoppsError, match="filter_overlong_prompts"):
        MoPPSSampler([{"index": 9 - i} for i in range(10)], config(server.listen))
    MoPPSSampler([{"index": 9 - i} for i in range(10)], config(server.listen, check_index=False, pool="p2")).close()


def test_a_failed_set_up_stops_the_private_moppsd_it_started(tmp_path, moppsd_holds):
    import pytest

    import mopps

    state = tmp_path / "state"
    with mopps.launch(state_dir=str(state)) as c:
        c.create_pool("verl", seed=1, strict_ids=True)
    with pytest.raises(mopps.RpcError, match="seed is 1") as e:  # the sampler asks for seed 3
        MoPPSSampler(list(range(10)), config(None, state_dir=str(state)))
    assert e.value.code == mopps.StatusCode.FAILED_PRECONDITION
    assert not moppsd_holds(state)  # stopped at once, not when the half-built sampler is collected
    sampler = MoPPSSampler(list(range(10)), config(None, state_dir=str(state), seed=1))
    assert moppsd_holds(state)
    sampler.close()
    assert not moppsd_holds(state)


ZOO = [
    ("threshold", None),
    ("uniform", None),
    ("dps", {"decay": 0.7, "selection": "topk+entropy", "entropy_weight": 0.1}),
    ("greso", {"p_easy": 0.6, "target_zero_share": 0.3}),
    ("pools", {"weight_easy": 0.1, "hard_max": 0.2}),
]


@pytest.mark.parametrize("strategy,settings", ZOO, ids=[s for s, _ in ZOO])
def test_every_strategy_and_its_settings(server, strategy, settings):
    """The pool gets the strategy and its settings in force; batches and feedback work as with MoPPS."""
    mopps = {"strategy": strategy, "candidates_ratio": 3}
    if settings is not None:
        mopps["strategy_config"] = settings
    sampler = MoPPSSampler(list(range(48)), config(server.listen, **mopps))
    info = sampler.client.list_pools()[0]
    assert info.strategy == strategy
    in_force = getattr(info, strategy, None) if settings is not None else None
    for key, value in (settings or {}).items():
        assert in_force[key] == pytest.approx(value) if isinstance(value, float) else in_force[key] == value
    picks = list(sampler)
    assert len(picks) == 48 and all(len(set(picks[k:k + 8])) == 8 for k in range(0, 48, 8))
    sampler.update(step_batch(np.repeat(picks[:8], 2), [1, 0] * 8))
    after = sampler.client.list_pools()[0]
    assert after.update_count == 1 and after.steps == (1 if strategy in ("dps", "greso", "pools") else 0)
    assert sampler.client.get("verl", picks[:8]).alpha.tolist() == [2.0] * 8
    sampler.close()


def test_a_bad_strategy_setting_names_it_and_closes_the_private_server(tmp_path):
    with pytest.raises(mopps.RpcError, match="decay"):
        MoPPSSampler(list(range(20)), {"train_batch_size": 4, "sampler": {"mopps": {
            "strategy": "dps", "strategy_config": {"decay": 2.0}, "state_dir": str(tmp_path / "s")}}})
    with pytest.raises(mopps.MoppsError, match="strategy_config is for the strategies dps, greso, pools"):
        MoPPSSampler(list(range(20)), {"train_batch_size": 4, "sampler": {"mopps": {
            "strategy": "topk", "strategy_config": {"decay": 0.5}, "state_dir": str(tmp_path / "s")}}})
    from mopps.launch import state_dir_in_use

    assert not state_dir_in_use(str(tmp_path / "s"))
