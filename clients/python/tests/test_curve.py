"""CurveZMQ: only clients with the server's public key and an allowed key pair get answers."""

import socket as pysocket
import subprocess

import pytest
import zmq

import mopps


def keygen(prefix):
    out = subprocess.run([mopps.find_moppsd(), "keygen", "--out", str(prefix)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    return prefix.with_suffix(".pub").read_text().strip(), prefix.with_suffix(".key").read_text().strip()


def test_curve_lets_in_only_allowed_clients(tmp_path):
    # '#' is a Z85 character: use a server key that has one, so key files cannot mistake it for a comment.
    while True:
        server_pub, server_sec = (k.decode() for k in zmq.curve_keypair())
        if "#" in server_sec:
            break
    (tmp_path / "server.key").write_text(server_sec + "\n")
    (tmp_path / "server.key").chmod(0o600)
    good_pub, good_sec = keygen(tmp_path / "good")
    other_pub, other_sec = keygen(tmp_path / "other")
    (tmp_path / "allow.txt").write_text(f"# trainers\n{good_pub}  trainer 1\n")
    assert oct((tmp_path / "good.key").stat().st_mode & 0o777) == "0o600"  # keygen keeps secrets private
    with pysocket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    endpoint = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "state"), "--listen", endpoint,
         "--publish", f"ipc://{tmp_path}/ev.sock", "--curve-secret-key", str(tmp_path / "server.key"),
         "--curve-allow", str(tmp_path / "allow.txt")],
        stderr=subprocess.PIPE, text=True)
    try:
        with mopps.Client(endpoint, timeout=5, server_key=server_pub, public_key=good_pub, secret_key=good_sec) as c:
            assert c.health() == "SERVING"
            c.create_pool("p", seed=1)
        for kwargs in (
            dict(server_key=server_pub, public_key=other_pub, secret_key=other_sec),  # key not allowed
            dict(server_key=other_pub, public_key=good_pub, secret_key=good_sec),  # wrong server key
            dict(),  # no encryption at all
        ):
            with mopps.Client(endpoint, timeout=0.5, retries=0, **kwargs) as c:
                with pytest.raises(mopps.Unavailable):
                    c.health()
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert f"server public key {server_pub}" in err and "key not allowed" in err


def test_remote_bind_needs_curve_or_insecure(tmp_path):
    out = subprocess.run([mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path), "--listen", "tcp://0.0.0.0:1"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "--curve-secret-key" in out.stderr and "--insecure" in out.stderr


def test_remote_bind_with_a_curve_key_is_served(tmp_path):
    """The key file is what lets a non-loopback endpoint be bound, so it is read before that check."""
    server_pub, _ = keygen(tmp_path / "server")
    client_pub, client_sec = keygen(tmp_path / "client")
    with pysocket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "state"),
                             "--listen", f"tcp://0.0.0.0:{port}", "--publish", f"ipc://{tmp_path}/events.sock",
                             "--curve-secret-key", str(tmp_path / "server.key")],
                            stderr=subprocess.PIPE, text=True)
    try:
        with mopps.Client(f"tcp://127.0.0.1:{port}", timeout=2, retries=5, server_key=server_pub,
                          public_key=client_pub, secret_key=client_sec) as c:
            assert c.health() == "SERVING"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
