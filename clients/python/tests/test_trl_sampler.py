"""mopps.trl with stand-ins (no TRL needed): the sampler's RepeatSampler layout and the reward report.
`make test-verl` also checks MoPPSGRPOTrainer against the real TRL 1.16 classes."""

import numpy as np

from mopps.trl import MoPPSRepeatSampler, report_rewards


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


def test_report_rewards_groups_by_prompt(client):
    client.create_pool("trl", seed=1)
    report_rewards(client, "trl", [5, 5, 5, 9, 9, 9], [1.0, -1.0, 0.5, float("nan"), -1.0, -0.5])
    got = client.get("trl", [5, 9])
    assert got.alpha.tolist() == [3.0, 1.0]  # 2 of 3 rewarded
    assert got.beta.tolist() == [2.0, 3.0]  # the NaN completion of prompt 9 is skipped
    report_rewards(client, "trl", [1], [float("nan")])  # nothing to report: no call, no error
    assert not client.get("trl", [1]).known[0]
