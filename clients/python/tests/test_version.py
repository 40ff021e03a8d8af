"""The version is set once, in VERSION; Swift, Python and the binary all report that one."""

import os
import re
import subprocess
from pathlib import Path

import mopps

REPO = Path(__file__).resolve().parents[3]


def test_every_version_string_is_the_one_in_VERSION():
    version = (REPO / "VERSION").read_text().strip()
    assert mopps.__version__ == version
    swift = (REPO / "Sources" / "MoPPSServer" / "Version.swift").read_text()
    assert f'public let moppsVersion = "{version}"' in swift, "run `make version`"
    out = subprocess.run([os.environ["MOPPSD"], "--version"], capture_output=True, text=True, timeout=30)
    # "0.2.0 (kernel avx512; <CPU> runs baseline, avx2, avx512)": the version first, then the kernel.
    assert out.stdout.split()[0] == version and "(kernel " in out.stdout
    # The package's metadata takes mopps.__version__ (no second literal in pyproject.toml).
    pyproject = (REPO / "clients" / "python" / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in pyproject and 'version = { attr = "mopps._version.__version__" }' in pyproject
    assert not re.search(r'^version\s*=\s*"', pyproject, re.MULTILINE)


def test_health_reports_the_version(client):
    from mopps.v1 import selector_pb2 as pb

    code, _, body = client.call_raw("Health", pb.HealthRequest().SerializeToString())
    assert code == pb.OK
    assert pb.HealthResponse.FromString(body).version == (REPO / "VERSION").read_text().strip()
