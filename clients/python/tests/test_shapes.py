"""Beta shapes at the ends of the accepted range [1e-30, 3.4e38], through a real moppsd."""

import numpy as np
import pytest

import mopps


def test_huge_shapes_sample_their_mean_and_tiny_ones_no_nan(client):
    client.create_pool("huge", prior_alpha=3e38, prior_beta=3e38, seed=1)
    sel = client.select("huge", 64, candidates=np.arange(4096), return_all_samples=True)
    assert np.all(np.abs(sel.candidate_samples - 0.5) < 1e-6)  # used to be 0 for every candidate
    client.create_pool("tiny", prior_alpha=1e-30, prior_beta=1e-30, seed=2)
    samples = np.concatenate([client.select("tiny", 1, candidates=np.arange(4096), return_all_samples=True)
                              .candidate_samples for _ in range(50)])
    assert not np.isnan(samples).any() and np.all((samples >= 0) & (samples <= 1))
    assert abs(samples.astype(np.float64).mean() - 0.5) < 5 * 0.5 / np.sqrt(samples.size)


@pytest.mark.parametrize("prior", [dict(prior_alpha=1e-31), dict(prior_beta=1.2e-38), dict(prior_alpha=1e39)])
def test_shapes_out_of_range_are_refused(client, prior):
    with pytest.raises(mopps.RpcError) as e:
        client.create_pool("p", seed=1, **prior)
    assert e.value.code == "INVALID_ARGUMENT" and "[1e-30, 3.4e38]" in e.value.message
    client.create_pool("q", seed=1)
    with pytest.raises(mopps.RpcError) as e:
        client.register("q", [1, 2], prior_alpha=[1, 1e-31], prior_beta=[1, 1])
    assert e.value.code == "INVALID_ARGUMENT" and "prior_alpha[1]" in e.value.message
