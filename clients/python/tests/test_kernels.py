"""Run-time choice of the SIMD kernel variant (baseline, avx2, avx512).

The binary carries every variant and picks the fastest the CPU runs; MOPPS_CPU or `serve --cpu`
forces one, and forcing one the CPU lacks is refused with a clear error, never an illegal
instruction. Older CPUs are emulated with qemu-user (`qemu-x86_64 -cpu Westmere` has no AVX,
`-cpu Haswell` has AVX2 + FMA but no AVX-512), so the refusal and the fallback are tested for real.
"""

import functools
import os
import platform
import re
import shutil
import subprocess

import numpy as np
import pytest

import mopps
from mopps.v1 import selector_pb2 as pb

VARIANTS = ["baseline", "avx2", "avx512"]
QEMU = shutil.which("qemu-x86_64")
X86 = platform.machine() in ("x86_64", "AMD64")


def version_line(env=None, wrapper=()):
    out = subprocess.run([*wrapper, mopps.find_moppsd(), "--version"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, **(env or {})})
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def parse(line):
    """(version, kernel, [variants the CPU runs]) from `moppsd --version`."""
    m = re.fullmatch(r"(\S+) \(kernel (\S+); .* runs ([a-z0-9, ]+)\)", line)
    assert m, line
    return m.group(1), m.group(2), m.group(3).split(", ")


@functools.lru_cache(maxsize=None)
def supported():
    return parse(version_line({"MOPPS_CPU": ""}))[2]


def sample(a, b, *, count=20_000, seed=3, env=None, wrapper=(), cpu=None, tmp_path):
    out = tmp_path / f"s-{cpu}-{a}-{b}.f32"
    args = [*wrapper, mopps.find_moppsd(), "sample", "--alpha", str(a), "--beta", str(b),
            "--count", str(count), "--seed", str(seed), "--out", str(out)]
    if cpu:
        args += ["--cpu", cpu]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})
    return done, (np.fromfile(out, dtype="<f4") if done.returncode == 0 else None)


def qemu(cpu):
    if not X86:
        pytest.skip("qemu-x86_64 emulates x86-64 CPUs; this machine is not x86-64")
    assert QEMU, "qemu-x86_64 not found: `make deps` installs qemu-user"
    return (QEMU, "-cpu", cpu)


def test_default_is_the_fastest_variant_and_each_supported_one_can_be_forced():
    version, kernel, runs = parse(version_line({"MOPPS_CPU": ""}))
    assert runs[0] == "baseline" and set(runs) <= set(VARIANTS)
    assert kernel == runs[-1]
    for v in runs:
        assert parse(version_line({"MOPPS_CPU": v}))[1] == v


def test_every_variant_samples_the_same_distribution(tmp_path):
    """Same seed, each variant: bitwise-different streams are allowed (FMA), distributions are not."""
    runs = supported()
    means = {}
    for v in runs:
        done, x = sample(2.0, 5.0, count=200_000, cpu=v, tmp_path=tmp_path)
        assert done.returncode == 0, done.stderr
        assert np.all((x >= 0) & (x <= 1))
        means[v] = float(x.mean())
    sd = np.sqrt(2 * 5 / (7 * 7 * 8) / 200_000)
    for v, m in means.items():
        assert abs(m - 2 / 7) < 5 * sd, (v, m)


def test_an_unknown_variant_is_refused_with_the_choices(tmp_path):
    done, _ = sample(1, 1, cpu="sse9", tmp_path=tmp_path)
    assert done.returncode == 64
    assert "unknown CPU kernel \"sse9\"" in done.stderr and "baseline, avx2, avx512" in done.stderr
    done, _ = sample(1, 1, env={"MOPPS_CPU": "fast"}, tmp_path=tmp_path)
    assert done.returncode == 64 and done.stderr.startswith("Error: MOPPS_CPU: unknown CPU kernel")


def test_a_cpu_without_avx_runs_the_baseline_and_refuses_the_others(tmp_path):
    wrapper = qemu("Westmere")
    _, kernel, runs = parse(version_line(wrapper=wrapper))
    assert (kernel, runs) == ("baseline", ["baseline"])
    done, x = sample(0.5, 3.0, wrapper=wrapper, tmp_path=tmp_path)
    assert done.returncode == 0, done.stderr
    assert abs(x.mean() - 0.5 / 3.5) < 5 * np.sqrt(0.5 * 3 / (3.5**2 * 4.5) / len(x))
    # The same seed natively with the baseline variant: the emulated CPU ran the same code.
    native, y = sample(0.5, 3.0, cpu="baseline", tmp_path=tmp_path)
    assert native.returncode == 0 and np.array_equal(x, y)
    for v in ("avx2", "avx512"):
        for how in ({"cpu": v}, {"env": {"MOPPS_CPU": v}}):
            done, _ = sample(1, 1, wrapper=wrapper, tmp_path=tmp_path, **how)
            assert done.returncode == 64, (v, how, done.returncode, done.stderr)
            assert f'CPU kernel "{v}" needs' in done.stderr and "lacks" in done.stderr, done.stderr
    # serve refuses before binding or touching the state dir.
    state = tmp_path / "state"
    done = subprocess.run([*wrapper, mopps.find_moppsd(), "serve", "--cpu", "avx2", "--state-dir", str(state)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 64 and "lacks" in done.stderr, done.stderr
    assert not state.exists()


def test_a_cpu_with_avx2_but_not_avx512_runs_avx2(tmp_path):
    wrapper = qemu("Haswell")
    _, kernel, runs = parse(version_line(wrapper=wrapper))
    assert (kernel, runs) == ("avx2", ["baseline", "avx2"])
    done, _ = sample(1, 1, wrapper=wrapper, cpu="avx512", tmp_path=tmp_path)
    assert done.returncode == 64 and "AVX-512" in done.stderr, done.stderr
    if "avx2" in supported():
        emulated, x = sample(3.0, 1.5, wrapper=wrapper, tmp_path=tmp_path)
        native, y = sample(3.0, 1.5, cpu="avx2", tmp_path=tmp_path)
        assert emulated.returncode == 0 and native.returncode == 0
        assert np.array_equal(x, y)


@pytest.mark.parametrize("variant", VARIANTS)
def test_health_and_stats_name_the_kernel_in_use(variant, tmp_path):
    if variant not in supported():
        pytest.skip(f"this CPU does not run {variant}")
    log = open(tmp_path / "moppsd.log", "w")
    process = mopps.start(state_dir=str(tmp_path / "state"), stderr=log, extra_args=["--cpu", variant])
    try:
        with mopps.Client(process.listen, timeout=5.0) as c:
            code, _, body = c.call_raw("Health", pb.HealthRequest().SerializeToString())
            assert code == pb.OK and pb.HealthResponse.FromString(body).kernel == variant
            code, _, body = c.call_raw("Stats", pb.StatsRequest().SerializeToString())
            stats = pb.StatsResponse.FromString(body)
            assert stats.kernel == variant and stats.cpu
            assert (c.stats().kernel, c.stats().cpu) == (variant, stats.cpu)
            c.create_pool("k", seed=1)
            assert len(c.select("k", 4, candidates=np.arange(64)).ids) == 4
    finally:
        assert process.stop() == 0
        log.close()
    assert f"kernel {variant} on " in (tmp_path / "moppsd.log").read_text()


def test_bench_measures_every_supported_variant_side_by_side(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run([mopps.find_moppsd(), "bench", "--only", "beta", "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    import json

    r = json.loads(out.read_text())
    assert r["kernel"] == supported()[-1] and r["cpu"]
    for v in supported():
        assert r[f"beta_msamples_per_s_swift_{v}"] > 0
    assert r["beta_msamples_per_s_swift"] > 0
    done = subprocess.run([mopps.find_moppsd(), "bench", "--only", "nothing"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 64 and "unknown group" in done.stderr and "wholepool" in done.stderr
