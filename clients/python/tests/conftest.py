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


def moppsd_holds(state_dir) -> bool:
    """Whether a moppsd serves ``state_dir``: a running server holds the flock on the directory."""
    import fcntl

    fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # also drops our lock


@pytest.fixture(name="moppsd_holds")
def moppsd_holds_fixture():
    """:func:`moppsd_holds` for tests (a fixture, so that no test imports conftest)."""
    return moppsd_holds
