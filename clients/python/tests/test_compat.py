"""mopps.compat.PosteriorSampler: the reference's interface over the sidecar."""

import types

import numpy as np
import pytest

from mopps.compat import PosteriorSampler


def batch(ids):
    return {"index": np.asarray(ids), "text": [f"prompt {i}" for i in ids], "len": np.asarray(ids) * 10}


def test_sample_batch_returns_the_chosen_rows(server):
    s = PosteriorSampler(endpoint=server.listen, batch_size=8, rollouts=4, seed=1)
    candidates = np.arange(100, 164)
    chosen, scores = s.sample_batch(batch(candidates))
    assert len(chosen["index"]) == 8 and len(scores) == 8
    assert set(chosen["index"].tolist()) <= set(candidates.tolist())
    assert chosen["text"] == [f"prompt {i}" for i in chosen["index"]]
    assert np.array_equal(chosen["len"], chosen["index"] * 10)
    # Topk from a fresh prior: the scores are the Thompson samples nearest 0.5.
    assert np.all(np.abs(scores - 0.5) <= 0.5)
    s.close()


def test_train_applies_the_update_rule_with_fractional_rates(server):
    cfg = types.SimpleNamespace(tasksampler=types.SimpleNamespace(prior_alpha=2.0, prior_beta=3.0, decay=0.5))
    s = PosteriorSampler(cfg, endpoint=server.listen, batch_size=4, rollouts=8, seed=1)
    rows = batch([1, 2, 3])
    s.train(rows, np.array([0.25, 1.0, 0.0]))
    s.train(rows, np.array([0.5, 0.125, 0.375]))
    alpha, beta = np.full(3, 2.0), np.full(3, 3.0)
    for rate in ([0.25, 1.0, 0.0], [0.5, 0.125, 0.375]):
        succ = np.array(rate) * 8
        alpha = 0.5 * alpha + 0.5 * 2.0 + succ
        beta = 0.5 * beta + 0.5 * 3.0 + (8 - succ)
    got = s.client.get("mopps", [1, 2, 3])
    np.testing.assert_allclose(got.alpha, alpha, rtol=1e-6)
    np.testing.assert_allclose(got.beta, beta, rtol=1e-6)
    s.close()


def test_single_rollout_does_not_reset_posteriors(server):
    """The reference's precedence slip set alpha = beta = 8 when rollouts <= 1."""
    s = PosteriorSampler(endpoint=server.listen, batch_size=2, rollouts=1, seed=1)
    s.train(batch([5, 6]), np.array([1.0, 0.0]))
    got = s.client.get("mopps", [5, 6])
    assert got.alpha.tolist() == [2.0, 1.0] and got.beta.tolist() == [1.0, 2.0]
    s.close()


def test_save_load_and_offline_prior(server, tmp_path):
    (tmp_path / "prior.json").write_text('{"7": [1, 1, 0], "8": [0, 0, 0]}')
    s = PosteriorSampler(endpoint=server.listen, batch_size=2, rollouts=2, seed=1, init=True, init_dir=str(tmp_path))
    got = s.client.get("mopps", [7, 8])
    assert got.alpha.tolist() == [7.0, 1.0] and got.beta.tolist() == [4.0, 10.0]  # 3*succ + 1, 3*fail + 1
    assert s.load(str(tmp_path / "ckpt")) is False  # nothing saved yet
    s.save(str(tmp_path / "ckpt"))
    s.train(batch([7]), np.array([1.0]))
    assert s.client.get("mopps", [7]).alpha[0] == 9.0
    assert s.load(str(tmp_path / "ckpt")) is True
    assert s.client.get("mopps", [7]).alpha[0] == 7.0
    s.close()


def test_private_sidecar_when_no_endpoint(tmp_path):
    s = PosteriorSampler(batch_size=2, rollouts=2, seed=1, state_dir=str(tmp_path / "s"))
    chosen, _ = s.sample_batch(batch(np.arange(10)))
    assert len(chosen["index"]) == 2
    s.close()


def test_a_failed_set_up_stops_the_private_moppsd_it_started(tmp_path, moppsd_holds):
    import mopps

    state = tmp_path / "state"
    with mopps.launch(state_dir=str(state)) as c:
        c.create_pool("mopps", decay=0.5, seed=1)
    with pytest.raises(mopps.RpcError, match="decay is 0.5") as e:
        PosteriorSampler(state_dir=str(state), decay=1.0, seed=1)  # exists with other settings
    assert e.value.code == mopps.StatusCode.FAILED_PRECONDITION
    assert not moppsd_holds(state)  # stopped at once, not when the half-built sampler is collected
    s = PosteriorSampler(state_dir=str(state), decay=0.5, seed=1)
    assert moppsd_holds(state)
    s.close()
    assert not moppsd_holds(state)
