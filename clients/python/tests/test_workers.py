"""Multi-worker serving: a long Select on one connection does not hold up another client's Update."""

import threading
import time

import numpy as np

import mopps


def _update_latencies_during_big_selects(tmp_path, workers):
    process = mopps.start(state_dir=str(tmp_path / f"w{workers}"), extra_args=["--workers", str(workers)])
    try:
        with mopps.Client(process.listen, timeout=30) as setup:
            setup.create_pool("big", seed=1)
            setup.register("big", np.arange(3_000_000, dtype=np.uint64))
            setup.create_pool("small", seed=1)
            t0 = time.perf_counter()
            for _ in range(3):
                setup.select("big", 256)  # whole pool
            select_s = (time.perf_counter() - t0) / 3

        stop = threading.Event()
        hammered, errors = [], []  # Selects the other client finished while the updates ran; its failure

        def hammer():
            try:
                with mopps.Client(process.listen, timeout=30) as a:
                    while not stop.is_set():
                        a.select("big", 256)
                        hammered.append(time.perf_counter())
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        thread = threading.Thread(target=hammer)
        thread.start()
        time.sleep(0.1)
        latencies = []
        with mopps.Client(process.listen, timeout=30) as b:
            first = time.perf_counter()
            for i in range(40):
                t0 = time.perf_counter()
                b.update("small", [i], [1], rollouts=2)
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.002)
        stop.set()
        thread.join()
        # Fast updates mean something only while big Selects were running next to them.
        assert not errors, errors
        assert any(t > first for t in hammered), "no Select ran next to the updates"
        return select_s, float(np.median(latencies))
    finally:
        assert process.stop() == 0


def test_update_is_not_queued_behind_a_big_select(tmp_path):
    select_s, update_s = _update_latencies_during_big_selects(tmp_path, workers=2)
    # With one worker an update arriving during a select waits on average half a select; with two,
    # it is served at once.
    assert update_s < select_s / 4, f"update median {update_s * 1e3:.2f} ms vs select {select_s * 1e3:.2f} ms"
