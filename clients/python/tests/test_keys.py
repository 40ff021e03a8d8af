"""Key files: `moppsd keygen` keeps the secret private from the first byte; key lists are checked."""

import os
import re
import shutil
import stat
import subprocess

import pytest
import zmq

import mopps


def keygen(prefix, *args):
    return subprocess.run([mopps.find_moppsd(), "keygen", "--out", str(prefix), *args], capture_output=True,
                          text=True, timeout=30)


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_keygen_modes_and_refusal_to_overwrite(tmp_path):
    prefix = tmp_path / "server"
    out = keygen(prefix)
    assert out.returncode == 0, out.stderr
    key, pub = tmp_path / "server.key", tmp_path / "server.pub"
    assert mode(key) == 0o600
    assert mode(pub) & 0o644 == mode(pub) and mode(pub) & 0o400
    secret = key.read_bytes()
    assert len(secret.strip()) == 40 and secret.strip() != pub.read_bytes().strip()

    out = keygen(prefix)  # both files exist
    assert out.returncode != 0 and "exists" in out.stderr and "--force" in out.stderr
    assert key.read_bytes() == secret

    pub.unlink()  # only the secret exists: nothing is written, not even the missing .pub
    out = keygen(prefix)
    assert out.returncode != 0 and "server.key exists" in out.stderr
    assert key.read_bytes() == secret and not pub.exists()

    key.chmod(0o644)  # --force replaces the file: the new secret is private whatever the old mode was
    out = keygen(prefix, "--force")
    assert out.returncode == 0, out.stderr
    assert mode(key) == 0o600 and key.read_bytes() != secret and pub.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["server.key", "server.pub"]


def test_keygen_refuses_a_symlink_at_the_secret_path(tmp_path):
    target = tmp_path / "elsewhere"
    (tmp_path / "server.key").symlink_to(target)  # dangling: the secret must not land in `target`
    out = keygen(tmp_path / "server")
    assert out.returncode != 0 and "exists" in out.stderr
    assert not target.exists()


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def test_keygen_creates_the_secret_private_from_the_start(tmp_path):
    # The window between creating the file and restricting it cannot be hit reliably from outside,
    # so look at the system calls instead: the secret file must be born 0600, never chmod-ed or
    # renamed into place (another user could have opened it in between).
    trace = tmp_path / "trace.txt"
    out = subprocess.run(
        ["strace", "-f", "-qq", "-o", str(trace), "-e", "trace=open,openat,creat,rename,renameat,renameat2,"
         "chmod,fchmod,fchmodat", mopps.find_moppsd(), "keygen", "--out", str(tmp_path / "server")],
        capture_output=True, text=True, timeout=60)
    if out.returncode != 0 and "ptrace" in out.stderr:
        pytest.skip("ptrace not permitted here")
    assert out.returncode == 0, out.stderr
    lines = [line for line in trace.read_text().splitlines() if str(tmp_path) in line and ".pub" not in line]
    creates = [line for line in lines if "O_CREAT" in line]
    assert creates, lines
    for line in creates:
        assert "O_EXCL" in line and re.search(r", 0600\)", line), line
    assert not [line for line in lines if re.search(r"\b(f?chmod|fchmodat|rename\w*)\(", line)], lines


def serve_with_allow_list(tmp_path, allow_text):
    keygen(tmp_path / "server")
    (tmp_path / "allow.txt").write_text(allow_text)
    return subprocess.run(
        [mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "state"), "--listen", f"ipc://{tmp_path}/s",
         "--publish", f"ipc://{tmp_path}/e", "--curve-secret-key", str(tmp_path / "server.key"),
         "--curve-allow", str(tmp_path / "allow.txt")],
        capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("allow_text", ["", "\n\n", "# trainers\n   \n# none yet\n"])
def test_allow_list_without_keys_is_refused_at_start(tmp_path, allow_text):
    # Before: an empty list meant "no list", so every client that knew the server key got in.
    out = serve_with_allow_list(tmp_path, allow_text)
    assert out.returncode != 0
    assert "--curve-allow" in out.stderr and "no client public key" in out.stderr


@pytest.mark.parametrize("bad", ["not-a-key", "x" * 39, "\u00e9" * 40])
def test_allow_list_with_a_malformed_key_names_the_line(tmp_path, bad):
    good = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
    out = serve_with_allow_list(tmp_path, f"{good}\n# comment\n  {bad}  trainer 2\n")
    assert out.returncode != 0 and "line 3" in out.stderr and "is not a Z85 key" in out.stderr


def test_secret_key_file_with_two_keys_is_refused(tmp_path):
    keygen(tmp_path / "server")
    keygen(tmp_path / "other")
    key = tmp_path / "server.key"
    key.write_text(key.read_text() + (tmp_path / "other.key").read_text())
    out = subprocess.run(
        [mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "state"), "--listen", f"ipc://{tmp_path}/s",
         "--publish", f"ipc://{tmp_path}/e", "--curve-secret-key", str(key)],
        capture_output=True, text=True, timeout=10)
    assert out.returncode != 0 and "exactly one key" in out.stderr


def test_secret_key_readable_by_others_is_warned_about(tmp_path):
    keygen(tmp_path / "server")
    key = tmp_path / "server.key"
    key.chmod(0o644)
    proc = subprocess.Popen(
        [mopps.find_moppsd(), "serve", "--state-dir", str(tmp_path / "state"), "--listen", f"ipc://{tmp_path}/s",
         "--publish", f"ipc://{tmp_path}/e", "--curve-secret-key", str(key)], stderr=subprocess.PIPE, text=True)
    try:
        client_pub, client_sec = (k.decode() for k in zmq.curve_keypair())
        with mopps.Client(f"ipc://{tmp_path}/s", timeout=1, retries=5, public_key=client_pub, secret_key=client_sec,
                          server_key=(tmp_path / "server.pub").read_text().strip()) as c:
            assert c.health() == "SERVING"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    assert err.count("readable by other users") == 1 and "chmod 600" in err
