"""mopps.ray on real local Ray clusters (the Ray that verl brings; one node, and two nodes with
Ray's child clean-up off): moppsd in a named, detached actor on the chosen node, on tcp with CURVE;
two Ray tasks select and update one pool through their own clients, another job's driver finds the
actor; the actor is killed while a third task keeps updating, its moppsd stops with it, a client of
the dead actor gets Unavailable naming it, and an actor started again on the same node and state
dir has every acknowledged update."""

import os
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
import zmq

ray = pytest.importorskip("ray", reason="mopps.ray needs Ray (pip install 'mopps[ray]'; make test-verl has it)")

import mopps  # noqa: E402
import mopps.ray  # noqa: E402
from mopps.launch import state_dir_in_use  # noqa: E402

ROLLOUTS = 8
IDS = np.arange(64, dtype=np.uint64)


# Ray's own clean-up of a dead worker's children (both on by default): the worker SIGKILLs them as
# it exits (ray.kill included) and the raylet kills the worker's process group.
RAY_CLEANUP = ("RAY_kill_child_processes_on_worker_exit", "RAY_process_group_cleanup_enabled")


@pytest.fixture(scope="module", params=["one-node", "two-nodes-no-ray-cleanup"])
def cluster(request):
    """A local Ray cluster. "one-node": ray.init(num_cpus=2). "two-nodes-no-ray-cleanup": two raylets
    on this machine (1 CPU each; the same IP, so nodes are named by id) with Ray's clean-up off, as
    for a worker that dies without it: only moppsd's --exit-with-parent can stop the server. Yields
    (mode, the node to start the actor on: None for the default, else the node that is not the driver's)."""
    saved = {knob: os.environ.get(knob) for knob in RAY_CLEANUP}
    nodes = None
    if request.param == "one-node":
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield request.param, None
    else:
        from ray.cluster_utils import Cluster

        os.environ.update({knob: "0" for knob in RAY_CLEANUP})  # read by the raylets and their workers
        nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        other = nodes.add_node(num_cpus=1)
        ray.init(address=nodes.address, log_to_driver=False)
        assert other.node_id != ray.get_runtime_context().get_node_id()
        yield request.param, other.node_id
    ray.shutdown()
    if nodes is not None:
        nodes.shutdown()
    for knob, value in saved.items():
        if value is None:
            os.environ.pop(knob, None)
        else:
            os.environ[knob] = value


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie left to a non-reaping init counts as stopped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False


def wait_stopped(pid: int, state_dir: str, seconds: float = 10.0) -> float:
    """Seconds until moppsd ``pid`` is gone and its state dir's lock is free (a killed process's
    leader turns zombie while its other threads still exit)."""
    start = time.monotonic()
    while running(pid) or state_dir_in_use(state_dir):
        assert time.monotonic() - start < seconds, f"moppsd {pid} still running {seconds} s after its actor died"
        time.sleep(0.02)
    return time.monotonic() - start


@ray.remote(num_cpus=1)
def train(name: str, task: int, steps: int):
    """A trainer task: its own client; select 16 of 32 candidates, report 0–8 successes each."""
    client = mopps.ray.client(name)
    rng = np.random.default_rng(task)
    done = []
    for step in range(steps):
        candidates = rng.choice(IDS, 32, replace=False)
        batch = client.select("math", 16, candidates=candidates)
        assert set(batch.ids.tolist()) <= set(candidates.tolist())
        successes = rng.integers(0, ROLLOUTS + 1, 16)
        client.update("math", batch.ids, successes=successes, rollouts=ROLLOUTS, request_id=f"t{task}-{step}")
        done.append((batch.ids, successes))
    return client.endpoint, done


@ray.remote(num_cpus=1)
def update_until_unavailable(name: str):
    """Updates until the server goes; returns the acknowledged updates, the one in flight and the error."""
    client = mopps.ray.client(name, timeout=0.5, retries=0)
    rng = np.random.default_rng(99)
    acked = []
    for step in range(100_000):
        ids = rng.choice(IDS, 8, replace=False)
        successes = rng.integers(0, ROLLOUTS + 1, 8)
        try:
            client.update("math", ids, successes=successes, rollouts=ROLLOUTS, request_id=f"w-{step}")
        except mopps.Unavailable as e:
            return acked, (ids, successes), str(e)
        acked.append((ids, successes))
    return acked, None, "never unavailable"


@ray.remote(num_cpus=0)
def pool_names(client):
    return [p.name for p in client.list_pools()], client.endpoint


def expected(updates):
    """Beta(1 + successes, 1 + failures) per id of IDS after these updates (decay 1)."""
    alpha, beta = np.ones(len(IDS)), np.ones(len(IDS))
    for ids, successes in updates:
        np.add.at(alpha, ids.astype(np.int64), successes)
        np.add.at(beta, ids.astype(np.int64), ROLLOUTS - successes)
    return alpha, beta


def test_ray_actor_serves_tasks_and_survives_a_kill(cluster, tmp_path):
    mode, node = cluster
    name = f"mopps-test-{uuid.uuid4().hex[:8]}"
    state_dir = str(tmp_path / "state")
    try:
        server = mopps.ray.start(name, node=node, state_dir=state_dir)
        assert server.node_id == (node or ray.get_runtime_context().get_node_id())
        address = ray.util.get_node_ip_address()
        assert server.address == address and server.endpoint.startswith(f"tcp://{address}:")
        assert server.server_key and server.state_dir == state_dir and running(server.pid)
        assert mopps.ray.info(name) == server
        with pytest.raises(mopps.LaunchError, match="already exists"):
            mopps.ray.start(name, state_dir=str(tmp_path / "other"))
        # CURVE: without the server's key (or with another one) there is no answer.
        for key in (None, zmq.curve_keypair()[0].decode()):
            with mopps.Client(server.endpoint, timeout=0.3, retries=0, server_key=key) as stranger:
                with pytest.raises(mopps.Unavailable):
                    stranger.health()

        driver = mopps.ray.client(name, timeout=1.0, retries=0)
        driver.create_pool("math", seed=3)
        driver.register("math", IDS)
        assert ray.get(pool_names.remote(driver)) == (["math"], server.endpoint)  # a client passed to a task
        events = driver.subscribe("math", timeout=5)  # the publish endpoint, with CURVE too
        time.sleep(1.0)  # slow joiner: let the subscription (after the CURVE handshake) reach the server
        chosen = driver.select("math", 4, candidates=IDS[:8])
        event = next(events)
        assert (event.pool, event.kind) == ("math", "select") and event.ids.tolist() == chosen.ids.tolist()
        events.close()
        # Another job (its own driver process and namespace) finds the actor too.
        other_job = subprocess.run(
            [sys.executable, "-c", "import ray, mopps.ray\n"
             f"ray.init(address={ray.get_runtime_context().gcs_address!r}, log_to_driver=False)\n"
             f"print(ray.get_runtime_context().namespace, [p.name for p in mopps.ray.client({name!r}).list_pools()])"],
            env={"RAY_AUTH_MODE": "token", **os.environ}, capture_output=True, text=True, timeout=60)
        assert other_job.returncode == 0, other_job.stderr[-2000:]
        job_namespace, pools = other_job.stdout.split(" ", 1)
        assert pools.strip() == "['math']" and job_namespace != mopps.ray.NAMESPACE
        # Two trainer tasks at once (2 CPUs), each through its own client.
        results = ray.get([train.remote(name, task, 25) for task in (1, 2)])
        assert [endpoint for endpoint, _ in results] == [server.endpoint] * 2
        updates = [u for _, done in results for u in done]
        alpha, beta = expected(updates)
        got = driver.get("math", IDS)
        np.testing.assert_array_equal(got.alpha, alpha)
        np.testing.assert_array_equal(got.beta, beta)

        # Kill the actor while a task is updating: moppsd stops with it (--exit-with-parent).
        writer = update_until_unavailable.remote(name)
        start = time.monotonic()
        while driver.list_pools()[0].update_count < 50 + len(updates):
            assert time.monotonic() - start < 30, "the writer task made no progress"
            time.sleep(0.02)
        ray.kill(ray.get_actor(name, namespace=mopps.ray.NAMESPACE))
        stopped_in = wait_stopped(server.pid, state_dir)
        with open(server.log) as f:
            log = f.read()
        if mode == "two-nodes-no-ray-cleanup":  # a graceful stop, logged (a SIGKILLed moppsd logs nothing)
            assert log.rstrip().endswith("msg=stopped") and "is gone: stopping" in log, log[-800:]
        acked, in_flight, error = ray.get(writer, timeout=30)
        assert f"moppsd actor {name!r}" in error and "not running" in error, error
        with pytest.raises(mopps.Unavailable, match=f"moppsd actor '{name}'.*not running"):
            driver.get("math", IDS)
        with pytest.raises(mopps.Unavailable, match=f"moppsd actor '{name}'.*not running"):
            mopps.ray.client(name)

        # Started again on the same node (by address; by id where two nodes share it) and state dir:
        # every acknowledged update is there (the one in flight at the kill may or may not have been applied).
        if node:
            with pytest.raises(mopps.LaunchError, match="2 Ray nodes have address"):
                mopps.ray.start(name, node=address, state_dir=state_dir)
        again = mopps.ray.start(name, node=node or address, state_dir=state_dir)
        assert again.node_id == server.node_id
        assert again.endpoint != server.endpoint and again.server_key != server.server_key
        got = mopps.ray.client(name).get("math", IDS)
        candidates = [expected(updates + acked)] + ([expected(updates + acked + [in_flight])] if in_flight else [])
        assert any(np.array_equal(got.alpha, a) and np.array_equal(got.beta, b) for a, b in candidates), \
            f"{len(acked)} acknowledged updates; posteriors differ"
        assert len(acked) >= 50
        # The driver's old client follows the actor to its new endpoint and key.
        np.testing.assert_array_equal(driver.get("math", IDS).alpha, got.alpha)
        assert driver.endpoint == again.endpoint

        assert mopps.ray.stop(name)
        wait_stopped(again.pid, state_dir)
        with open(again.log) as f:  # stop: SIGTERM and a clean exit, also where Ray would SIGKILL it
            assert f.read().rstrip().endswith("msg=stopped")
        assert not mopps.ray.stop(name)
        print(f"{mode}: moppsd stopped {stopped_in:.2f} s after ray.kill; {len(acked)} updates acknowledged before it")
    finally:
        mopps.ray.stop(name)


def test_failed_start_and_dead_server_name_the_cause(cluster, tmp_path):
    name = f"mopps-test-{uuid.uuid4().hex[:8]}"
    with pytest.raises(mopps.LaunchError, match="no alive Ray node"):
        mopps.ray.start(name, node="203.0.113.7")
    with pytest.raises(mopps.LaunchError, match=f"moppsd actor '{name}' did not start: moppsd exited with code 64"
                                                "(.|\n)*Unknown option '--no-such-flag'"):
        mopps.ray.start(name, state_dir=str(tmp_path / "s"), extra_args=["--no-such-flag"])
    try:
        # Plaintext only when asked for; a server that dies under a live actor is reported as such.
        server = mopps.ray.start(name, state_dir=str(tmp_path / "s"), insecure=True)
        assert server.server_key is None
        with mopps.Client(server.endpoint, timeout=2.0) as plain:
            assert plain.health() == "SERVING"
        client = mopps.ray.client(name, timeout=0.5, retries=0)
        os.kill(server.pid, 9)
        wait_stopped(server.pid, server.state_dir)
        with pytest.raises(mopps.Unavailable, match=f"moppsd actor '{name}'.*not running: its moppsd exited with code -9"):
            client.health()
    finally:
        mopps.ray.stop(name)


def test_import_mopps_does_not_import_ray():
    import subprocess
    import sys

    code = "import sys, mopps; assert 'ray' not in sys.modules, sorted(m for m in sys.modules if 'ray' in m)"
    subprocess.run([sys.executable, "-c", code], check=True)
