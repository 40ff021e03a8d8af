"""The engine's SIMD Beta sampler against scipy.stats.beta over a grid of shapes.

For every (alpha, beta) in {0.05, 0.5, 1, 2, 8, 50, 1000}^2 and every kernel variant this CPU runs
(baseline, avx2, avx512: `moppsd sample --cpu`), 100,000 float32 samples from `moppsd sample`
(fixed seeds) are tested:

- Kolmogorov-Smirnov on the clipped range [1e-20, 1 - 1e-5] against the exact CDF conditioned on
  that range: float32 cannot resolve values nearer 1 than ~6e-8, and for tiny shapes a large share of
  the mass lies there (Beta(0.05, 0.05) puts ~25% of samples within 1e-6 of 0 or 1), so an unclipped
  KS test fails for any float32 sampler, numpy's cast to float32 included. Threshold: p > 0.001.
- The share of samples below and above the clipped range matches the exact tail probabilities
  within 5 standard errors (+ 2/n).
- Mean and variance within 5 standard errors of the exact moments.
"""

import itertools
import subprocess

import numpy as np
import pytest
from scipy import stats

import mopps
from test_kernels import VARIANTS, supported

SHAPES = [0.05, 0.5, 1, 2, 8, 50, 1000]
N = 100_000
LO, HI = 1e-20, 1 - 1e-5


def samples(a, b, seed, kernel, tmp_path):
    out = tmp_path / f"s-{a}-{b}.f32"
    subprocess.run(
        [mopps.find_moppsd(), "sample", "--alpha", str(a), "--beta", str(b), "--count", str(N),
         "--seed", str(seed), "--out", str(out), "--cpu", kernel],
        check=True, timeout=120)
    return np.fromfile(out, dtype="<f4").astype(np.float64)


@pytest.mark.parametrize("kernel", VARIANTS)
@pytest.mark.parametrize("a,b", list(itertools.product(SHAPES, SHAPES)))
def test_beta_matches_scipy(a, b, kernel, tmp_path):
    if kernel not in supported():
        pytest.skip(f"this CPU does not run the {kernel} kernel")
    seed = int(1000 * a + b) % (2**31)
    x = samples(a, b, seed, kernel, tmp_path)
    assert x.shape == (N,) and np.all((x >= 0) & (x <= 1))
    dist = stats.beta(a, b)

    # Tails outside the clipped range.
    for observed, p in ((np.mean(x < LO), dist.cdf(LO)), (np.mean(x > HI), dist.sf(HI))):
        assert abs(observed - p) <= 5 * np.sqrt(p * (1 - p) / N) + 2 / N, (observed, p)

    # KS on the clipped range, against the conditional CDF.
    inside = x[(x >= LO) & (x <= HI)]
    f_lo, f_hi = dist.cdf(LO), dist.cdf(HI)
    if len(inside) >= 1000 and f_hi - f_lo > 1e-9:
        result = stats.kstest(inside, lambda v: (dist.cdf(v) - f_lo) / (f_hi - f_lo))
        assert result.pvalue > 0.001, f"KS D={result.statistic:.5f} p={result.pvalue:.2g}"

    # Moments.
    mean, var = dist.mean(), dist.var()
    assert abs(x.mean() - mean) <= 5 * np.sqrt(var / N) + 1e-7
    assert abs(x.var() - var) <= 5 * np.sqrt(var / N) + 1e-7
