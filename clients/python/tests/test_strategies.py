"""The dps, greso and pools strategies of a live moppsd against the straightforward numpy rules in
mopps.sim.rules (docs/strategies.md states them): DPS exactly (it is deterministic), GRESO and pools
in distribution (chi-square, fixed seeds), the per-step parts with two ranks reporting one step,
persistence (kill -9, tags) and validation."""

import math
import re
import signal
from itertools import permutations
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

import mopps
from mopps.sim import rules

# Chi-square tests: seeded, so each either passes or fails for good; at this level a correct
# server fails one of them with probability 1e-4 per seed change.
ALPHA = 1e-4


def info(client, pool):
    return next(p for p in client.list_pools() if p.name == pool)


def state_of(client, pool, ids):
    """Everything Get reports about ``ids`` plus the pool's step bookkeeping (for before/after)."""
    g = client.get(pool, ids)
    fields = [g.alpha.tolist(), g.beta.tolist(), g.known.tolist()]
    for extra in (g.dps_predicted, g.greso_easy_run, g.greso_hard_run, g.last_mean):
        fields.append(None if extra is None else np.asarray(extra).tolist())
    i = info(client, pool)
    return fields, i.steps, i.greso_p_easy, i.greso_p_hard, i.update_count


def _nan_eq(a, b):
    return repr(a) == repr(b)  # NaN-aware equality of the nested lists


# -- the reference on its own ---------------------------------------------------------------------


def test_reference_dps_two_ranks_of_one_step_equal_one_update():
    rng = np.random.default_rng(0)
    one, two = rules.DPS(decay=0.7), rules.DPS(decay=0.7)
    for step in range(1, 15):
        cand = rng.choice(40, 16, replace=False)
        ids = one.select(cand, 8)
        assert ids.tolist() == two.select(cand, 8).tolist()
        s = rng.integers(0, 9, 8).astype(float)
        one.update(ids, s, np.full(8, 8.0))
        two.update(ids[:3], s[:3], np.full(3, 8.0), step=step)
        two.update(ids[3:], s[3:], np.full(5, 8.0), step=step)
    assert np.array_equal(one.predicted(np.arange(40)), two.predicted(np.arange(40)))


def test_reference_inclusion_probabilities():
    w = np.array([1.0, 2.0, 3.0])
    p = rules.inclusion_probabilities(w, 1)
    assert np.allclose(p, w / 6)
    p2 = rules.inclusion_probabilities(w, 2)
    assert math.isclose(p2.sum(), 2.0) and math.isclose(p2[0], 1 / 6 + 2 / 6 * 1 / 4 + 3 / 6 * 1 / 3)


# -- dps ------------------------------------------------------------------------------------------

DPS_CASES = [
    {},
    {"decay": 0.7},
    {"decay": 0.5, "selection": "topk+entropy", "entropy_weight": 0.3},
    {"decay": 0.9, "prior": "progress"},
    {"prior": "stability", "selection": "topk+entropy", "entropy_weight": 0.05},
    {"decay": 0.8, "prior": "local"},
    {"prior_counts": [2.0, 1.0, 0.5, 1.0, 3.0, 1.0, 0.5, 1.0, 2.0], "decay": 0.6},
]


def _reference_dps(settings):
    return rules.DPS(**settings)


def _dps_run(client, pool, settings, *, ranks, steps=30, n=80, m=24, b=8, seed=11):
    """Same candidates and rewards into the server and the reference; per step the chosen ids must be
    equal, and π of every prompt (seen or not) within 1e-5 every few steps."""
    client.create_pool(pool, strategy="dps", dps=settings, seed=1)
    ref = _reference_dps(settings)
    rng = np.random.default_rng(seed)
    p_true = rng.uniform(0, 1, n) ** 2  # some prompts nearly never solved
    p_true[rng.choice(n, 10, replace=False)] = 1.0  # some always solved
    everyone = np.arange(n + 5, dtype=np.uint64)  # 5 ids never seen
    for step in range(1, steps + 1):
        cand = rng.choice(n, m, replace=False)
        sel = client.select(pool, b, candidates=cand.astype(np.uint64))
        want = ref.select(cand, b)
        assert sel.ids.astype(np.int64).tolist() == want.tolist(), f"step {step}"
        assert np.allclose(sel.samples, ref.scores(want).astype(np.float32), atol=1e-6)
        s = rng.binomial(8, p_true[want]).astype(float)
        if ranks == 1:
            client.update(pool, sel.ids, s, rollouts=8)
            ref.update(want, s, np.full(b, 8.0))
        else:  # two ranks, each its share of the step
            for part in (slice(0, 3), slice(3, b)):
                client.update(pool, sel.ids[part], s[part], rollouts=8, step=step)
                ref.update(want[part], s[part], np.full(len(s[part]), 8.0), step=step)
        if step % 5 == 0 or step == steps:
            got = client.get(pool, everyone).dps_predicted
            assert got is not None and got.shape == (len(everyone), 3)
            err = np.max(np.abs(got - ref.predicted(everyone.astype(np.int64))))
            assert err < 1e-5, f"step {step}: max |Δπ| {err}"
    assert info(client, pool).steps == steps
    return ref


@pytest.mark.parametrize("settings", DPS_CASES, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "defaults")
def test_dps_matches_reference(client, settings):
    _dps_run(client, "d", settings, ranks=1)
    pool = info(client, "d")
    assert pool.dps is not None and pool.dps["selection"] == settings.get("selection", "topk")
    assert math.isclose(pool.dps["decay"], settings.get("decay", 1.0))


@pytest.mark.parametrize("settings", [{"decay": 0.7}, {"decay": 0.5, "selection": "topk+entropy",
                                                        "entropy_weight": 0.2}], ids=["topk", "entropy"])
def test_dps_two_ranks_reporting_one_step(client, settings):
    """Two Updates with the same step are one training step: every unobserved prompt moves once, and
    the result equals the reference fed one Update per step."""
    ref = _dps_run(client, "d2", settings, ranks=2)
    single = _reference_dps(settings)
    rng = np.random.default_rng(11)  # replay the same draws into a one-Update-per-step reference
    p_true = rng.uniform(0, 1, 80) ** 2
    p_true[rng.choice(80, 10, replace=False)] = 1.0
    for _ in range(30):
        cand = rng.choice(80, 24, replace=False)
        want = single.select(cand, 8)
        s = rng.binomial(8, p_true[want]).astype(float)
        single.update(want, s, np.full(8, 8.0))
    ids = np.arange(85)
    assert np.array_equal(ref.predicted(ids), single.predicted(ids))


def test_dps_without_step_every_update_is_a_step(client):
    client.create_pool("d", strategy="dps", dps={"decay": 0.7}, seed=1)
    ref = rules.DPS(decay=0.7)
    cand = np.arange(10)
    client.select("d", 4, candidates=cand.astype(np.uint64))
    ref.select(cand, 4)
    for part in ([0, 1], [2, 3]):  # no step: two steps, prompts 4..9 move twice
        client.update("d", part, [4.0, 8.0], rollouts=8)
        ref.update(part, [4.0, 8.0], [8.0, 8.0])
    assert info(client, "d").steps == 2
    got = client.get("d", np.arange(12)).dps_predicted
    assert np.max(np.abs(got - ref.predicted(np.arange(12)))) < 1e-12


# -- greso ----------------------------------------------------------------------------------------


def _observe(client, pool, ref, i, means):
    """Feeds prompt i groups of 10 rollouts with the given means, one Update each."""
    for m in means:
        client.update(pool, [i], [round(10 * m)], rollouts=10)
        ref.update([i], [round(10 * m)], [10.0])


def test_greso_skip_frequencies_match_the_rule(client):
    """Prompts with known run lengths offered with 7 never-skipped fillers, B = 7: the prompt is
    chosen with probability keep × 7/8 (kept: B of 8 uniformly; skipped: the 7 fillers). 1,500
    Selects per prompt, chi-square over all prompts."""
    cfg = {"p_easy": 0.6, "p_hard": 0.4, "adapt": False}
    client.create_pool("g", strategy="greso", greso=cfg, seed=5)
    ref = rules.GRESO(**cfg)
    runs = {0: [1.0], 1: [1.0] * 2, 2: [1.0] * 4, 3: [0.0], 4: [0.0] * 3, 5: [1.0] * 12,  # floor 0.01
            6: [0.5, 1.0, 0.0], 7: [1.0, 1.0, 0.5], 8: [0.1, 0.0]}  # 8: two groups ≤ 0.11
    for i, means in runs.items():
        _observe(client, "g", ref, i, means)
    ids = np.array(sorted(runs))
    g = client.get("g", ids)
    e, h = ref.runs(ids)
    assert g.greso_easy_run.tolist() == e.tolist() and g.greso_hard_run.tolist() == h.tolist()
    assert e.tolist() == [1, 2, 4, 0, 0, 12, 0, 0, 0] and h.tolist() == [0, 0, 0, 1, 3, 0, 1, 0, 2]
    fillers = np.arange(100, 107, dtype=np.uint64)  # registered, never observed: never skipped
    client.register("g", fillers)
    n = 1500
    chi2, dof = 0.0, 0
    for i in ids:
        keep = 1.0 - ref.skip_probabilities([i])[1][0]
        expected = keep * 7 / 8
        chosen = sum(int(i) in client.select("g", 7, candidates=np.append(fillers, np.uint64(i))).ids.tolist()
                     for _ in range(n))
        if keep == 1.0:
            assert abs(chosen / n - 7 / 8) < 0.05
        chi2 += (chosen - n * expected) ** 2 / (n * expected * (1 - expected))
        dof += 1
    assert stats.chi2.sf(chi2, dof) > ALPHA, f"chi2 {chi2:.1f} on {dof} dof"


def test_greso_fills_from_the_skipped_fewest_skips_first(client):
    client.create_pool("g", strategy="greso", greso={"p_easy": 0.05, "p_hard": 0.05, "p_min": 0.05,
                                                      "keep_floor": 0.0, "adapt": False}, seed=2)
    ref = rules.GRESO(p_easy=0.05, p_hard=0.05, keep_floor=0.0, adapt=False)
    for i, means in {0: [1.0] * 6, 1: [0.0] * 3, 2: [1.0] * 2, 3: [0.0] * 5}.items():
        _observe(client, "g", ref, i, means)
    # 0..3 are skipped with probability ≥ 1 − 0.05² each (no floor); the fill takes them by run
    # length (prompt 2: 2, 1: 3, 3: 5, 0: 6).
    got = [client.select("g", 3, candidates=[0, 1, 2, 3, 9]).ids.tolist() for _ in range(20)]
    typical = [9, 2, 1]  # 9 unseen (kept), then the two shortest runs
    assert sum(g == typical for g in got) >= 17, got  # skip probability ≥ 1 − 0.05² for each


def test_greso_p_moves_by_the_published_rule_with_two_ranks(client):
    """p after each step equals the reference's; a step reported by two ranks (same step number) adapts
    once, from the step's combined counts, not once per Update."""
    client.create_pool("g", strategy="greso", greso={"target_zero_share": 0.3}, seed=3)
    ref = rules.GRESO(target_zero_share=0.3)
    rng = np.random.default_rng(4)
    history = []
    for step in range(1, 41):
        ids = rng.choice(200, 16, replace=False)
        # Share of zero-variance groups varies around the targets (0.1 easy, 0.2 hard).
        s = rng.choice([0.0, 4.0, 8.0], 16, p=[0.2 + 0.1 * math.sin(step / 3), 0.6, 0.2 - 0.1 * math.sin(step / 3)])
        half = 7
        client.update("g", ids[:half], s[:half], rollouts=8, step=step)
        ref.update(ids[:half], s[:half], np.full(half, 8.0), step=step)
        client.update("g", ids[half:], s[half:], rollouts=8, step=step)
        ref.update(ids[half:], s[half:], np.full(16 - half, 8.0), step=step)
        i = info(client, "g")
        assert i.steps == step
        assert math.isclose(i.greso_p_easy, ref.p_easy, abs_tol=1e-12)
        assert math.isclose(i.greso_p_hard, ref.p_hard, abs_tol=1e-12)
        history.append((ref.p_easy, ref.p_hard))
    # The rule was exercised both ways and stayed within [p_min, p_max].
    pe = np.array(history)[:, 0]
    assert (np.diff(pe) > 0).any() and (np.diff(pe) < 0).any()
    # Published rule by hand for one step: z_hard = 6/16 ≥ 0.2 → p_hard − 0.01; z_easy = 0 < 0.1 → p_easy + 0.01.
    before = info(client, "g")
    client.update("g", np.arange(300, 316), [0.0] * 6 + [4.0] * 10, rollouts=8, step=41)
    after = info(client, "g")
    assert math.isclose(after.greso_p_hard, max(before.greso_p_hard - 0.01, 0.05), abs_tol=1e-12)
    assert math.isclose(after.greso_p_easy, min(before.greso_p_easy + 0.01, 0.95), abs_tol=1e-12)


# -- pools ----------------------------------------------------------------------------------------

POOLS = {"weight_hard": 0.5, "weight_normal": 2.0, "weight_easy": 0.25, "weight_unseen": 1.0}


def _pools_setup(client):
    client.create_pool("p", strategy="pools", pools=POOLS, seed=7)
    ref = rules.Pools(**POOLS)
    for i, m in {0: 0.125, 1: 0.5, 2: 0.625, 3: 0.875, 4: 0.25}.items():  # hard, normal, normal, easy, hard (≤)
        client.update("p", [i], [8 * m], rollouts=8)
        ref.update([i], [8 * m], [8.0])
    client.register("p", [5])  # unseen
    cand = np.arange(6, dtype=np.uint64)
    assert np.allclose(client.get("p", cand).last_mean[:5], [0.125, 0.5, 0.625, 0.875, 0.25])
    assert math.isnan(client.get("p", cand).last_mean[5])
    return ref, cand


def test_pools_single_draws_follow_the_weights(client):
    ref, cand = _pools_setup(client)
    w = ref.weights(cand)
    assert w.tolist() == [0.5, 2.0, 2.0, 0.25, 0.5, 1.0]
    n = 3000
    counts = np.zeros(6)
    for _ in range(n):
        counts[int(client.select("p", 1, candidates=cand).ids[0])] += 1
    assert stats.chisquare(counts, n * w / w.sum()).pvalue > ALPHA


def test_pools_ordered_pairs_follow_successive_weighted_draws(client):
    """B = 2 without replacement: the reply's order is the draw order, so each ordered pair (i, j)
    has probability w_i/W · w_j/(W − w_i) exactly; chi-square over the 30 pairs, and the inclusion
    frequencies against the exact inclusion probabilities."""
    ref, cand = _pools_setup(client)
    w = ref.weights(cand)
    total = w.sum()
    pairs = list(permutations(range(6), 2))
    expected = np.array([w[i] / total * w[j] / (total - w[i]) for i, j in pairs])
    n = 4000
    counts = dict.fromkeys(pairs, 0)
    included = np.zeros(6)
    for _ in range(n):
        i, j = (int(x) for x in client.select("p", 2, candidates=cand).ids)
        counts[(i, j)] += 1
        included[[i, j]] += 1
    assert stats.chisquare(np.array([counts[p] for p in pairs]), n * expected).pvalue > ALPHA
    exact = rules.inclusion_probabilities(w, 2)
    se = np.sqrt(n * exact * (1 - exact))
    assert np.all(np.abs(included - n * exact) < 4.5 * se)


# -- persistence ----------------------------------------------------------------------------------


def _start(state):
    log = open(Path(state).parent / "moppsd.log", "a")
    process = mopps.start(state_dir=str(state), stderr=log)
    log.close()
    return process


def _drive(c, pool, strategy, steps, rng, offset=0):
    """Keyed Selects (logged, so the select counter that keys the random streams survives kill -9)
    and Updates with step numbers; dps's even steps come from two ranks."""
    for step in range(offset + 1, offset + steps + 1):
        sel = c.select(pool, 6, candidates=rng.choice(60, 20, replace=False).astype(np.uint64), request_id=f"s{step}")
        s = rng.integers(0, 9, 6).astype(float)
        if strategy == "dps" and step % 2 == 0:  # one step from two ranks
            c.update(pool, sel.ids[:2], s[:2], rollouts=8, step=step)
            c.update(pool, sel.ids[2:], s[2:], rollouts=8, step=step)
        else:
            c.update(pool, sel.ids, s, rollouts=8, step=step)


STRATEGY_SETTINGS = {
    "dps": {"dps": {"decay": 0.7, "selection": "topk+entropy", "entropy_weight": 0.1}},
    "greso": {"greso": {"p_easy": 0.7, "target_zero_share": 0.4}},
    "pools": {"pools": {"weight_easy": 0.1}},
}
IDS = np.arange(70, dtype=np.uint64)


@pytest.mark.parametrize("strategy", ["dps", "greso", "pools"])
def test_kill_9_and_restart_restore_the_strategy_state(tmp_path, strategy):
    """kill -9 after acknowledged Updates: the restarted server has the same strategy state and goes
    on choosing exactly as an uninterrupted server (same seed, same Selects)."""
    rng = np.random.default_rng(8)
    state = tmp_path / "s"
    proc = _start(state)
    with mopps.Client(proc.listen) as c:
        c.create_pool("x", strategy=strategy, seed=4, **STRATEGY_SETTINGS[strategy])
        _drive(c, "x", strategy, 12, rng)
        before = state_of(c, "x", IDS)
        nxt = rng.choice(60, 20, replace=False).astype(np.uint64)
    proc.popen.send_signal(signal.SIGKILL)
    proc.popen.wait()
    proc = _start(state)
    try:
        with mopps.Client(proc.listen) as c:
            assert _nan_eq(state_of(c, "x", IDS), before)
            after_restart = c.select("x", 6, candidates=nxt).ids.tolist()
    finally:
        assert proc.stop() == 0
    # The uninterrupted server, fed the same, makes the same next choice.
    rng = np.random.default_rng(8)
    proc = _start(tmp_path / "t")
    try:
        with mopps.Client(proc.listen) as c:
            c.create_pool("x", strategy=strategy, seed=4, **STRATEGY_SETTINGS[strategy])
            _drive(c, "x", strategy, 12, rng)
            assert _nan_eq(state_of(c, "x", IDS), before)
            assert c.select("x", 6, candidates=rng.choice(60, 20, replace=False).astype(np.uint64)).ids.tolist() \
                == after_restart
    finally:
        assert proc.stop() == 0


@pytest.mark.parametrize("strategy", ["dps", "greso", "pools"])
def test_tag_restore_is_exact(client, strategy):
    rng = np.random.default_rng(9)
    client.create_pool("x", strategy=strategy, seed=4, **STRATEGY_SETTINGS[strategy])
    _drive(client, "x", strategy, 8, rng)
    tagged = state_of(client, "x", IDS)
    client.snapshot("x", "t8")
    nxt = rng.choice(60, 20, replace=False).astype(np.uint64)
    first = client.select("x", 6, candidates=nxt).ids.tolist()
    _drive(client, "x", strategy, 6, rng, offset=8)
    assert not _nan_eq(state_of(client, "x", IDS), tagged)
    client.restore("x", "t8")
    restored = state_of(client, "x", IDS)
    # The step counter may legitimately keep the latest step number; the per-prompt state is exact.
    assert _nan_eq(restored[0], tagged[0]) and restored[1:4] == tagged[1:4]
    if strategy == "dps":  # deterministic: the same candidates give the same choice as at the tag
        assert client.select("x", 6, candidates=nxt).ids.tolist() == first


# -- validation -----------------------------------------------------------------------------------

BAD_CONFIGS = [
    ("dps", {"dps": {"decay": 1.5}}, "decay"),
    ("dps", {"dps": {"decay": -0.1}}, "decay"),
    ("dps", {"dps": {"prior": "optimistic"}}, "prior"),
    ("dps", {"dps": {"selection": "softmax"}}, "selection"),
    ("dps", {"dps": {"prior_counts": [1.0] * 8}}, "prior_counts"),
    ("dps", {"dps": {"prior_counts": [1.0] * 8 + [-1.0]}}, "prior_counts"),
    ("dps", {"dps": {"prior_counts": [0.0, 1, 1, 0, 1, 1, 0, 1, 1]}}, "prior_counts"),  # column sum 0
    ("dps", {"dps": {"entropy_weight": float("nan")}}, "entropy_weight"),
    ("dps", {"greso": {"p_easy": 0.5}}, "greso"),
    ("greso", {"greso": {"p_easy": 1.2}}, "p_easy"),
    ("greso", {"greso": {"p_min": 0.6, "p_max": 0.4}}, "p_min|p_max"),
    ("greso", {"greso": {"hard_threshold": 0.99, "easy_threshold": 0.5}}, "threshold"),
    ("greso", {"greso": {"keep_floor": -0.5}}, "keep_floor"),
    ("greso", {"greso": {"step_size": 2.0}}, "step_size"),
    ("greso", {"pools": {"weight_easy": 1.0}}, "pools"),
    ("pools", {"pools": {"weight_hard": -1.0}}, "weight_hard"),
    ("pools", {"pools": {"hard_max": 0.8, "easy_min": 0.2}}, "hard_max|easy_min"),
    ("pools", {"pools": {"weight_normal": float("inf")}}, "weight_normal"),
    ("topk", {"dps": {"decay": 0.5}}, "dps"),
]


@pytest.mark.parametrize("strategy,settings,field", BAD_CONFIGS,
                         ids=[f"{s}-{f}-{i}" for i, (s, _, f) in enumerate(BAD_CONFIGS)])
def test_bad_config_is_invalid_argument_naming_the_field(client, strategy, settings, field):
    client.create_pool("keep", strategy="dps", seed=1)
    before = [(p.name, p.strategy) for p in client.list_pools()]
    with pytest.raises(mopps.RpcError) as err:
        client.create_pool("new", strategy=strategy, **settings)
    assert err.value.code == "INVALID_ARGUMENT" and re.search(field, str(err.value)), str(err.value)
    assert [(p.name, p.strategy) for p in client.list_pools()] == before


def test_unknown_setting_is_refused_by_the_client(client):
    with pytest.raises(mopps.InvalidArgument, match="dps.lambda"):
        client.create_pool("x", strategy="dps", dps={"lambda": 0.5})


@pytest.mark.parametrize("strategy", ["dps", "greso", "pools"])
def test_refusals_leave_the_state_untouched(client, strategy):
    rng = np.random.default_rng(3)
    client.create_pool("x", strategy=strategy, seed=4, **STRATEGY_SETTINGS[strategy])
    _drive(client, "x", strategy, 5, rng)
    before = state_of(client, "x", IDS)
    other = {"dps": "greso", "greso": "pools", "pools": "dps"}[strategy]
    for name in (other, "topk", "threshold", "uniform"):
        with pytest.raises(mopps.RpcError) as err:
            client.select("x", 4, candidates=np.arange(10, dtype=np.uint64), strategy=name)
        assert err.value.code == "INVALID_ARGUMENT" and "strategy" in str(err.value)
    with pytest.raises(mopps.RpcError) as err:  # a step lower than the latest
        client.update("x", [1, 2], [1.0, 2.0], rollouts=8, step=3)
    assert err.value.code == "FAILED_PRECONDITION" and "step" in str(err.value)
    with pytest.raises(mopps.RpcError) as err:
        client.export_state("x")
    assert err.value.code == "FAILED_PRECONDITION" and "MoPPS-only" in str(err.value) and strategy in str(err.value)
    assert _nan_eq(state_of(client, "x", IDS), before)


def test_mopps_pools_accept_and_ignore_step(client):
    client.create_pool("m", seed=1)
    client.update("m", [1], [2.0], rollouts=4, step=5)
    client.update("m", [1], [2.0], rollouts=4, step=5)
    g = client.get("m", [1])
    assert g.alpha[0] == 5.0 and g.beta[0] == 5.0 and g.dps_predicted is None
