"""What real training jobs rely on: keyed Selects that retries and ranks share, report() of
per-completion rewards, settings and ids checked instead of silently absorbed, and a launched
server's lifecycle. Real moppsd processes and sockets throughout."""

import gc
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import mopps
from mopps.v1 import selector_pb2 as pb
from test_reliability import LossyProxy


def selects_seen(proxy):
    return [pb.SelectRequest.FromString(body) for method, body in proxy.requests if method.endswith(b"/Select")]


def test_a_retried_select_reuses_its_key_and_draws_once(server, tmp_path):
    with mopps.Client(server.listen) as direct:
        direct.create_pool("p", seed=1)
        direct.register("p", np.arange(100))
    proxy = LossyProxy(server.listen, f"ipc://{tmp_path}/proxy.sock", drop=[0])
    try:
        with mopps.Client(proxy.endpoint, timeout=0.3, retries=2) as c:
            lost_then_answered = c.select("p", 8, candidates=np.arange(40))
            c.select("p", 8, candidates=np.arange(40))
        first, retry, other = selects_seen(proxy)
        assert first.request_id and first.request_id == retry.request_id  # the retry resends the key
        assert other.request_id != first.request_id  # request_id=None: a fresh key per call
        with mopps.Client(server.listen) as direct:
            assert direct.list_pools()[0].select_count == 2  # two calls, two draws: the retry drew nothing
            # Asking again under the retried key returns that draw, without drawing.
            again = direct.select("p", 8, candidates=np.arange(40), request_id=first.request_id)
            assert again.ids.tolist() == lost_then_answered.ids.tolist()
            assert direct.list_pools()[0].select_count == 2
    finally:
        proxy.close()


def test_ranks_sharing_a_key_get_one_draw(client):
    client.create_pool("p", seed=2)
    rank0 = client.select("p", 4, candidates=np.arange(50), request_id="run/e0/b0", return_means=True)
    rank1 = client.select("p", 4, candidates=np.arange(50), request_id="run/e0/b0", return_means=True)
    assert rank0.ids.tolist() == rank1.ids.tolist() and rank0.samples.tolist() == rank1.samples.tolist()
    assert client.list_pools()[0].select_count == 1
    with pytest.raises(mopps.RpcError) as e:  # the same key with other arguments is a mistake
        client.select("p", 5, candidates=np.arange(50), request_id="run/e0/b0")
    assert e.value.code == "FAILED_PRECONDITION" and "request_id" in e.value.message


def test_exist_ok_compares_the_settings_given(client):
    client.create_pool("p", decay=0.5, seed=3, strategy="threshold")
    same = client.create_pool("p", decay=0.5, exist_ok=True)  # settings not given are not compared
    assert (same.decay, same.seed, same.strategy) == (0.5, 3, "threshold")
    with pytest.raises(mopps.RpcError) as e:
        client.create_pool("p", decay=0.9, seed=3, target=0.4, exist_ok=True)
    assert e.value.code == "FAILED_PRECONDITION"
    assert "decay is 0.5, requested 0.9" in e.value.message and "target is 0.5, requested 0.4" in e.value.message
    assert "seed" not in e.value.message  # equal settings are not named
    with pytest.raises(mopps.RpcError) as e:
        client.create_pool("p", strategy="topk", band=(0.2, 0.8), exist_ok=True)
    assert "strategy is 'threshold'" in e.value.message and "band" in e.value.message
    with pytest.raises(mopps.RpcError) as e:
        client.create_pool("p", strict_ids=True, exist_ok=True)
    assert "strict_ids is False, requested True" in e.value.message
    assert client.list_pools()[0].decay == 0.5  # nothing changed


def test_report_counts_per_completion_rewards(client):
    client.create_pool("p", seed=4)
    # Flat: one prompt id per completion, in any order; NaN (unscored) completions are left out.
    r = client.report("p", [5, 9, 5, 9, 5, 9], [1.0, -1.0, 0.0, float("nan"), 0.5, 2.0], request_id="s0/rank0")
    assert r.updated == 2 and not r.duplicate
    got = client.get("p", [5, 9])
    assert got.alpha.tolist() == [3.0, 2.0] and got.beta.tolist() == [2.0, 2.0]
    # A (B, G) matrix with B ids; a threshold.
    client.report("p", [1, 2], np.array([[0.2, 0.7, 0.9], [0.1, 0.1, 0.6]]), threshold=0.5, request_id="s0/rank1")
    got = client.get("p", [1, 2])
    assert got.alpha.tolist() == [3.0, 2.0] and got.beta.tolist() == [2.0, 3.0]
    # The same report again (a retry, a re-run of the step) counts once.
    assert client.report("p", [1, 2], np.array([[0.2, 0.7, 0.9], [0.1, 0.1, 0.6]]), threshold=0.5,
                         request_id="s0/rank1").duplicate
    assert client.report("p", [7], [float("nan")]).updated == 0  # nothing scored: no Update sent
    assert client.list_pools()[0].update_count == 2
    with pytest.raises(mopps.InvalidArgument, match="rewards"):
        client.report("p", [1, 2, 3], [1.0, 0.0])
    with pytest.raises(mopps.InvalidArgument, match="prompt_ids"):
        client.report("p", [1], np.zeros((2, 4)))


def test_update_catches_rates_passed_as_counts_and_fractional_trials(client):
    client.create_pool("p", seed=5)
    with pytest.warns(UserWarning, match="not success rates"):
        client.update("p", [1, 2], [0.25, 0.875], rollouts=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        client.update("p", [1, 2], [0, 1], rollouts=8)  # whole counts: plausible on hard prompts
        client.update("p", [1, 2], [0.5, 0.25], rollouts=1)  # one rollout each: rates are counts
    before = client.get("p", [1]).alpha[0]
    with pytest.raises(mopps.InvalidArgument, match="trials") as e:
        client.update("p", [1, 2], [1, 2], trials=[4, 2.5])
    assert isinstance(e.value, mopps.MoppsError) and "2.5" in str(e.value)
    with pytest.raises(mopps.InvalidArgument, match="rollouts"):
        client.update("p", [1], [1], rollouts=2.5)
    assert client.get("p", [1]).alpha[0] == before  # refused before sending


def test_strict_ids_refuses_updates_of_unregistered_ids(client):
    info = client.create_pool("strict", seed=6, strict_ids=True)
    assert info.strict_ids
    assert not client.create_pool("loose", seed=6).strict_ids
    client.register("strict", np.arange(10))
    client.report("strict", [3, 3], [1.0, 0.0])
    with pytest.raises(mopps.RpcError) as e:
        client.report("strict", [3, 10], [1.0, 0.0])
    assert e.value.code == "NOT_FOUND"
    assert client.get("strict", [3]).alpha[0] == 2.0  # the refused update changed nothing
    client.report("loose", [10], [1.0])  # the default still adds ids


def test_launch_works_without_with_and_cleans_up(tmp_path):
    client = mopps.launch()
    process, state_dir = client.process, client.process.state_dir
    assert client.health() == "SERVING" and os.path.isdir(state_dir)
    client.close()
    assert process.popen.returncode == 0 and not os.path.exists(state_dir)  # temporary state removed
    kept = tmp_path / "kept"
    with mopps.launch(state_dir=str(kept)) as client:
        process = client.process
    assert process.popen.returncode == 0 and kept.is_dir()  # a state dir that was given is kept
    # Garbage collection stops the server too.
    client = mopps.launch()
    process = client.process
    del client
    gc.collect()
    assert process.popen.poll() == 0


def run_python(code, tmp_path):
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(code))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, text=True)


def wait_gone(pid, seconds=5.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_launched_server_stops_at_exit_and_with_a_killed_parent(tmp_path):
    # A clean interpreter exit without close(): the server is stopped and its temporary state removed.
    child = run_python("""
        import mopps
        client = mopps.launch()
        print(client.process.popen.pid, client.process.state_dir, flush=True)
    """, tmp_path)
    pid, state_dir = child.stdout.readline().split()
    assert child.wait(10) == 0
    assert wait_gone(int(pid)) and not os.path.exists(state_dir)
    # The parent killed (no Python cleanup runs): --exit-with-parent takes the server down.
    child = run_python("""
        import time, mopps
        client = mopps.launch()
        print(client.process.popen.pid, flush=True)
        time.sleep(60)
    """, tmp_path)
    pid = int(child.stdout.readline())
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    gone = wait_gone(pid)
    if not gone:
        os.kill(pid, signal.SIGKILL)  # do not leave it running after the failure
    assert gone, "moppsd outlived its killed parent"


def test_a_forked_child_leaving_does_not_stop_its_parents_server(tmp_path):
    """DataLoader workers are forks of the trainer: their exit must not stop the trainer's moppsd."""
    child = run_python("""
        import gc, os, sys, mopps
        client = mopps.launch()
        pid = os.fork()
        if pid == 0:            # the child exits normally: atexit and garbage collection run
            del client
            gc.collect()
            sys.exit(0)
        os.waitpid(pid, 0)
        print(client.health(), os.path.isdir(client.process.state_dir), flush=True)
        client.close()
        print(client.process.popen.returncode, flush=True)
    """, tmp_path)
    assert child.stdout.read().split() == ["SERVING", "True", "0"]  # state dir still there, then a clean stop
    assert child.wait(10) == 0
