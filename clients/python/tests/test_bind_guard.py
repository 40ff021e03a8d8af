"""The loopback guard: no endpoint form opens moppsd to the network without CURVE or --insecure."""

import socket as pysocket
import subprocess

import pytest

import mopps


def free_port():
    with pysocket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def non_loopback_interfaces():
    # Every interface but lo: with addresses (eth0) or without (a down ifb0), neither is loopback.
    return [name for _, name in pysocket.if_nameindex() if name != "lo"][:2]


def run_serve(tmp_path, *args):
    """Starts moppsd; returns (exit code or None if it kept running, stderr)."""
    proc = subprocess.Popen([mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "state"), *args],
                            stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=5)
        return proc.returncode, err
    except subprocess.TimeoutExpired:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        return None, err


FORMS = ["tcp://127.0.0.1:0;0.0.0.0:{port}", "tcp://127.0.0.1:0;*:{port}", "tcp://localhost;0.0.0.0:{port}",
         "tcp://127.0.0.1;[::]:{port}"] + [f"tcp://{name}:{{port}}" for name in non_loopback_interfaces()]


@pytest.mark.parametrize("flag", ["--listen", "--publish"])
@pytest.mark.parametrize("form", FORMS)
def test_every_non_loopback_form_is_refused(tmp_path, flag, form):
    endpoint = form.format(port=free_port())
    other = ["--publish", f"ipc://{tmp_path}/e"] if flag == "--listen" else ["--listen", f"ipc://{tmp_path}/s"]
    code, err = run_serve(tmp_path, flag, endpoint, *other)
    assert code not in (None, 0), f"{endpoint} was served: {err}"
    assert "reachable from other machines" in err and "--insecure" in err


# (libzmq binds interface names and literals only, no DNS names: tcp://localhost:PORT fails to bind.)
@pytest.mark.parametrize("form", ["tcp://lo:{port}", "tcp://10.9.9.9:0;127.0.0.1:{port}"])
def test_loopback_forms_are_served(tmp_path, form):
    if "lo:" in form and "lo" not in [name for _, name in pysocket.if_nameindex()]:
        pytest.skip("no interface called lo")
    port = free_port()
    proc = subprocess.Popen([mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "state"), "--listen",
                             form.format(port=port), "--publish", f"ipc://{tmp_path}/e"], stderr=subprocess.PIPE,
                            text=True)
    try:
        with mopps.Client(f"tcp://127.0.0.1:{port}", timeout=1, retries=5) as c:
            assert c.health() == "SERVING"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
