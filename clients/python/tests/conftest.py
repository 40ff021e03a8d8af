import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mopps  # noqa: E402


@pytest.fixture
def server(tmp_path):
    """A real moppsd on ipc endpoints in a temporary state dir; stopped (and checked) after the test."""
    log = open(tmp_path / "moppsd.log", "w")
    process = mopps.start(state_dir=str(tmp_path / "state"), stderr=log)
    yield process
    code = process.stop()
    log.close()
    assert code == 0, (tmp_path / "moppsd.log").read_text()


@pytest.fixture
def client(server):
    with mopps.Client(server.listen, timeout=5.0) as c:
        yield c


def c_client_path():
    return os.environ.get("MOPPS_C_CLIENT") or str(Path(__file__).resolve().parents[2] / "c" / "mopps-c-client")


@pytest.fixture
def moppsd_holds():
    """Whether a moppsd serves a state dir (``mopps.launch.state_dir_in_use``)."""
    from mopps.launch import state_dir_in_use

    return state_dir_in_use
