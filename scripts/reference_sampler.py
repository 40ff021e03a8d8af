"""A faithful in-process Python re-implementation of the MoPPS reference sampler (DESIGN §2), the
baseline of `make bench` and `make bench-python`."""

from __future__ import annotations

import numpy as np


class ReferenceSampler:
    """The reference algorithm as the MoPPS recipe structures it: a Python dict of per-prompt
    posteriors, numpy Beta draws for the candidates, the batch nearest the target by sorting."""

    def __init__(self, prior_alpha=1.0, prior_beta=1.0, decay=1.0, target=0.5, seed=0):
        self.prior = (prior_alpha, prior_beta)
        self.decay = decay
        self.target = target
        self.state: dict[int, list[float]] = {}
        self.rng = np.random.default_rng(seed)

    def sample_batch(self, candidates, batch_size):
        a0, b0 = self.prior
        params = [self.state.get(int(i), (a0, b0)) for i in candidates]
        alpha = np.array([p[0] for p in params])
        beta = np.array([p[1] for p in params])
        samples = self.rng.beta(alpha, beta)
        order = np.argsort((samples - self.target) ** 2)[:batch_size]
        return np.asarray(candidates)[order], samples[order]

    def train(self, ids, successes, trials):
        a0, b0 = self.prior
        lam = self.decay
        for i, s, k in zip(ids, successes, trials):
            a, b = self.state.get(int(i), (a0, b0))
            self.state[int(i)] = [lam * a + (1 - lam) * a0 + s, lam * b + (1 - lam) * b0 + (k - s)]
