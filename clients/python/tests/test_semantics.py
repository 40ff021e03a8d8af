"""MoPPS semantics through the wire: update rule, priors, strategies, determinism."""

import numpy as np
import pytest

import mopps


@pytest.mark.parametrize("decay", [1.0, 0.5, 0.0])
def test_update_rule_with_fractional_successes(client, decay):
    a0, b0 = 1.5, 2.0
    client.create_pool("p", prior_alpha=a0, prior_beta=b0, decay=decay, seed=1)
    ids = np.array([3, 9, 27], dtype=np.uint64)
    alpha = np.full(3, a0)
    beta = np.full(3, b0)
    rng = np.random.default_rng(0)
    for step in range(5):
        trials = rng.integers(1, 17, size=3)
        successes = np.round(rng.random(3) * trials, 3)  # fractional
        client.update("p", ids, successes, trials=trials)
        alpha = decay * alpha + (1 - decay) * a0 + successes
        beta = decay * beta + (1 - decay) * b0 + (trials - successes)
        got = client.get("p", ids)
        # Posteriors are stored as float32: relative error ~6e-8 per step.
        np.testing.assert_allclose(got.alpha, alpha, rtol=1e-5)
        np.testing.assert_allclose(got.beta, beta, rtol=1e-5)
    assert client.list_pools()[0].update_count == 5


def test_prompts_outside_an_update_do_not_decay(client):
    client.create_pool("p", decay=0.5, seed=1)
    client.update("p", [1, 2], [3, 1], rollouts=4)
    before = client.get("p", [2])
    client.update("p", [1], [4], rollouts=4)
    after = client.get("p", [2])
    assert before.alpha[0] == after.alpha[0] and before.beta[0] == after.beta[0]


def test_unseen_ids_use_the_prior(client):
    client.create_pool("p", prior_alpha=2, prior_beta=6, seed=1)
    got = client.get("p", [123, 456])
    assert list(got.alpha) == [2, 2] and list(got.beta) == [6, 6]
    assert list(got.known) == [False, False]
    sel = client.select("p", 2, candidates=[123, 456], return_means=True)
    np.testing.assert_allclose(sel.means, [0.25, 0.25])


def _spread(client, pool, n=1000, **config):
    client.create_pool(pool, seed=5, **config)
    ids = np.arange(n, dtype=np.uint64) * 11
    client.update(pool, ids, (np.arange(n) % 9).astype(float), rollouts=8)
    return ids


@pytest.mark.parametrize("target", [0.5, 0.2])
def test_topk_picks_the_samples_nearest_the_target(client, target):
    ids = _spread(client, "p", target=target)
    for _ in range(5):
        sel = client.select("p", 64, candidates=ids, return_all_samples=True)
        dist = (sel.candidate_samples.astype(np.float32) - np.float32(target)) ** 2
        order = np.lexsort((np.arange(len(dist)), dist))  # by distance, then position
        np.testing.assert_array_equal(sel.ids, sel.candidate_ids[order[:64]])
        np.testing.assert_array_equal(sel.samples, sel.candidate_samples[order[:64]])


def test_threshold_band(client):
    ids = _spread(client, "p", strategy="threshold", band=(0.4, 0.6))
    sel = client.select("p", 32, candidates=ids, return_all_samples=True)
    assert np.all((sel.samples >= 0.4) & (sel.samples <= 0.6))
    # When the band holds too few, all of them are taken and the rest are the nearest outside.
    big = client.select("p", 900, candidates=ids, return_all_samples=True)
    s = big.candidate_samples
    in_band = set(big.candidate_ids[(s >= 0.4) & (s <= 0.6)].tolist())
    assert len(in_band) < 900 and in_band <= set(big.ids.tolist())
    gap = np.maximum(np.maximum(np.float32(0.4) - s, s - np.float32(0.6)), 0)
    chosen = np.isin(big.candidate_ids, big.ids)
    assert gap[chosen].max() <= gap[~chosen].min()


def test_uniform_is_uniform(client):
    """Chi-square over 20 candidates, 5 per call, 2,000 calls: 500 expected each; 19 degrees of
    freedom, 0.999 quantile 43.8 (fixed seed)."""
    client.create_pool("p", strategy="uniform", seed=3)
    counts = np.zeros(20)
    for _ in range(2000):
        sel = client.select("p", 5, candidates=np.arange(20))
        assert len(set(sel.ids.tolist())) == 5
        counts[sel.ids.astype(int)] += 1
    chi2 = ((counts - 500) ** 2 / 500).sum()
    assert chi2 < 43.8, counts


def test_strategy_override_per_call(client):
    ids = _spread(client, "p")
    sel = client.select("p", 10, candidates=ids, strategy="uniform")
    assert len(sel.ids) == 10


def test_server_drawn_candidates_and_whole_pool(client):
    client.create_pool("p", seed=4)
    assert client.register("p", np.arange(100)) == 100
    assert client.register("p", np.arange(90, 110)) == 10
    seen = []
    for _ in range(11):
        sel = client.select("p", 2, candidate_count=10, return_all_samples=True)
        seen += sel.candidate_ids.tolist()
    assert set(seen[:110]) == set(range(110))  # one epoch covers every registered prompt once
    whole = client.select("p", 5, return_all_samples=True)
    assert sorted(whole.candidate_ids.tolist()) == list(range(110))


def test_same_seed_same_replies(server):
    def run(pool_seed):
        with mopps.Client(server.listen) as c:
            name = f"det{pool_seed}-{np.random.default_rng().integers(1 << 30)}"
            c.create_pool(name, seed=pool_seed, decay=0.7)
            c.register(name, np.arange(300))
            out = []
            for step in range(15):
                sel = c.select(name, 16, candidate_count=64) if step % 2 else c.select(
                    name, 16, candidates=np.arange(step, step + 200))
                c.update(name, sel.ids, (sel.ids % 5).astype(float), rollouts=4)
                out.append((sel.ids.tolist(), sel.samples.tolist()))
            return out

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_create_pool_reports_resolved_config_and_random_seed(client):
    info = client.create_pool("p")
    assert (info.prior_alpha, info.prior_beta, info.decay, info.target) == (1, 1, 1, 0.5)
    assert info.strategy == "topk" and info.band == (0.3, 0.7)
    other = client.create_pool("q")
    assert info.seed != other.seed  # random unless given
    assert client.create_pool("p", exist_ok=True).seed == info.seed
    client.drop_pool("q")
    assert [p.name for p in client.list_pools()] == ["p"]
