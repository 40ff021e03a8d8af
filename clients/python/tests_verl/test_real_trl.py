"""mopps.trl.MoPPSGRPOTrainer against the real TRL 1.16 classes (no model is trained here: a GRPO
run needs model weights, which this offline machine cannot download). Checks that it is a
GRPOTrainer and that the methods it overrides still exist with the signatures it relies on."""

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
