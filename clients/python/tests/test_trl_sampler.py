"""mopps.trl with stand-ins (no TRL needed): the sampler's RepeatSampler layout, one draw per generation
batch for all ranks, and the replay of a resumed epoch.
`make test-verl` also checks MoPPSGRPOTrainer against the real TRL 1.16 classes."""

import numpy as np
import pytest

import mopps

from mopps.trl import MoPPSRepeatSampler


def test_repeat_layout_matches_trl(client):
    client.create_pool("trl", seed=1)
    s = MoPPSRepeatSampler(list(range(40)), client, "trl", mini_repeat_count=3, batch_size=4, repeat_count=2,
                           candidates_ratio=2, seed=5)
    out = list(s)
    assert len(out) == len(s) == 10 * 4 * 3 * 2
    for g in range(10):  # each generation batch: 4 distinct prompts, each 3 times, the block twice
        block = out[g * 24:(g + 1) * 24]
        first, second = block[:12], block[12:]
        assert first == second
        prompts = first[::3]
        assert len(set(prompts)) == 4 and all(first[k * 3:(k + 1) * 3] == [prompts[k]] * 3 for k in range(4))


def test_identical_sequences_across_ranks_and_one_draw_per_batch(client):
    client.create_pool("trl", seed=1)
    ranks = [MoPPSRepeatSampler(list(range(40)), client, "trl", mini_repeat_count=2, batch_size=4, run="r1",
                                candidates_ratio=2, seed=5) for _ in range(2)]
    sequences = [list(s) for s in ranks]
    assert sequences[0] == sequences[1]
    assert client.list_pools()[0].select_count == 10  # 10 generation batches, drawn once each


def test_resume_replays_the_epochs_batches_without_asking_again(tmp_path):
    """A resumed epoch yields the checkpoint's batches (one of them prefetched before the checkpoint)
    without Selects, then continues exactly as the uninterrupted run did — also when the server no
    longer remembers those Selects (here it remembers one)."""
    with mopps.launch(state_dir=str(tmp_path / "s"), extra_args=["--select-dedupe-window", "1"]) as client:
        client.create_pool("trl", seed=1)
        client.register("trl", np.arange(40))

        def sampler():
            return MoPPSRepeatSampler(list(range(40)), client, "trl", mini_repeat_count=1, batch_size=4, run="r",
                                      candidates_ratio=3, seed=5)

        def take(it):
            return [next(it) for _ in range(4)]

        def report(step, batch):
            client.report("trl", batch, [float(i % 3 == 0) for i in batch], request_id=f"s{step}")

        full = sampler()
        it = iter(full)
        batches = []
        for step in range(6):
            batches.append(take(it))
            if step == 3:  # the checkpoint after 3 steps; batch 3 was already fetched (prefetch)
                saved = list(full.selected)
                client.snapshot("trl", "ckpt")
            report(step, batches[-1])
        final = client.get("trl")

        client.restore("trl", "ckpt")
        resumed = sampler()
        resumed.resume(0, saved, "r")
        it = iter(resumed)
        assert [take(it) for _ in range(4)] == batches[:4]
        assert client.list_pools()[0].select_count == 4  # the replay asked nothing
        report(3, batches[3])
        for step in (4, 5):
            assert take(it) == batches[step]
            report(step, batches[step])
        assert client.get("trl").alpha.tolist() == final.alpha.tolist()


@pytest.mark.parametrize("strategy,settings", [("dps", {"decay": 0.5}), ("greso", {"p_hard": 0.3}),
                                               ("pools", {"weight_unseen": 2.0})])
def test_sampler_serves_every_strategy(client, strategy, settings):
    from mopps import _plugin

    _plugin.setup_pool(client, "trl", 40, seed=1, **_plugin.pool_settings(strategy, settings))
    info = client.list_pools()[0]
    assert info.strategy == strategy and getattr(info, strategy)[next(iter(settings))] == pytest.approx(
        next(iter(settings.values())))
    s = MoPPSRepeatSampler(list(range(40)), client, "trl", mini_repeat_count=2, batch_size=4, candidates_ratio=3,
                           seed=5)
    out = list(s)
    assert len(out) == len(s) == 10 * 4 * 2
    assert all(len(set(out[g * 8:(g + 1) * 8])) == 4 for g in range(10))
    # Two ranks reporting one generation batch with the same step: one training step.
    ids = np.array(out[0:8:2], dtype=np.uint64)
    client.report("trl", ids[:2], np.array([[1.0, 0.0], [1.0, 1.0]]), step=0, request_id="s0/r0")
    client.report("trl", ids[2:], np.array([[0.0, 0.0], [1.0, 0.0]]), step=0, request_id="s0/r1")
    assert client.list_pools()[0].steps == 1


def test_pool_settings_refuse_a_config_for_mopps_strategies():
    from mopps import _plugin

    assert _plugin.pool_settings(None, None, decay=0.5, target=None) == {"decay": 0.5}
    with pytest.raises(mopps.MoppsError, match="MoPPS pools take decay and target"):
        _plugin.pool_settings("threshold", {"decay": 0.5})
    with pytest.raises(mopps.MoppsError, match="mapping"):
        _plugin.pool_settings("dps", [0.5])
