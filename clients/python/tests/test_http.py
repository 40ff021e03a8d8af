"""`moppsd serve --http`: /metrics, /healthz, /readyz and the dashboard's JSON against a real server.

Every pool figure on /metrics is checked against what Get (posteriors) and Stats report; bad HTTP
requests are refused without touching the ZeroMQ side; 200 concurrent scrapes during a run of
seeded selects and updates leave every reply identical to the same run on a server nobody scrapes.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import numpy as np
import pytest

import mopps

BOUNDS = [round(0.1 * i, 1) for i in range(1, 11)]


class HTTPServer:
    """A moppsd with --http on a free loopback port (read from its log line)."""

    def __init__(self, tmp: Path, name: str = "s", extra: Tuple[str, ...] = ()) -> None:
        self.log_path = tmp / f"{name}.log"
        self.log = open(self.log_path, "w")
        self.process = mopps.start(
            state_dir=str(tmp / name), stderr=self.log, extra_args=["--http", "127.0.0.1:0", *extra])
        deadline = time.monotonic() + 10
        while True:
            m = re.search(r"http on 127\.0\.0\.1:(\d+)", self.log_path.read_text())
            if m:
                self.port = int(m.group(1))
                break
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.05)
        self.client = mopps.Client(self.process.listen, timeout=10.0)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> Tuple[int, str, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=10) as r:
                return r.status, r.headers["Content-Type"], r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers["Content-Type"], e.read().decode()

    def stop(self) -> None:
        self.client.close()
        code = self.process.stop()
        self.log.close()
        assert code == 0, self.log_path.read_text()


@pytest.fixture
def http(tmp_path: Path) -> Iterator[HTTPServer]:
    s = HTTPServer(tmp_path)
    yield s
    s.stop()


def samples(exposition: str) -> Dict[str, float]:
    out: Dict[str, float] = {}
    for line in exposition.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def fill(client: mopps.Client) -> None:
    """Two pools with known content: "math" (updated), "code" (registered only)."""
    client.create_pool("math", seed=3)
    client.register("math", np.arange(40))
    batch = client.select("math", 8, candidates=np.arange(40))
    client.update("math", batch.ids, successes=np.array([0, 1, 2, 3, 4, 4, 0, 2]), rollouts=4)
    client.create_pool("code", seed=4, strategy="uniform")
    client.register("code", np.arange(10))


def test_status_codes_and_content_types(http: HTTPServer) -> None:
    assert http.get("/healthz")[:2] == (200, "text/plain; charset=utf-8")
    assert http.get("/readyz")[:2] == (200, "text/plain; charset=utf-8")
    assert http.get("/metrics")[:2] == (200, "text/plain; version=0.0.4; charset=utf-8")
    status, kind, page = http.get("/")
    assert (status, kind) == (200, "text/html; charset=utf-8")
    assert "<script>" in page and "src=" not in page and "https://" not in page
    status, kind, body = http.get("/api/stats.json")
    assert (status, kind) == (200, "application/json") and json.loads(body)["ready"] is True
    assert http.get("/nope")[0] == 404
    assert http.get("/metricsx")[0] == 404
    request = urllib.request.Request(http.url("/metrics"), data=b"x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(request, timeout=10)
    assert e.value.code == 405 and e.value.headers["Allow"] == "GET, HEAD"


def test_promtool_finds_nothing_to_fix(http: HTTPServer) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: `make deps` installs Debian's prometheus package"
    fill(http.client)
    http.client.snapshot()  # a full snapshot: the snapshot figures appear too
    status, _, text = http.get("/metrics")
    assert status == 200
    for family in ("moppsd_request_duration_seconds", "moppsd_wal_fsync_duration_seconds",
                   "moppsd_pool_posterior_mean"):
        assert f"# TYPE {family} histogram" in text
    assert "moppsd_last_snapshot_age_seconds" in text
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout.strip() == "", checked.stdout + checked.stderr


def test_every_pool_metric_matches_get_and_stats(http: HTTPServer) -> None:
    fill(http.client)
    stats = http.client.stats()
    m = samples(http.get("/metrics")[2])
    infos = {p.name: p for p in http.client.list_pools()}
    doc = json.loads(http.get("/api/stats.json")[2])
    assert set(stats.pool_metrics) == {"math", "code"}
    for name, info in infos.items():
        label = f'{{pool="{name}"}}'
        post = http.client.get(name)
        means = post.alpha / (post.alpha + post.beta)
        buckets = [int(np.sum((means > lo) & (means <= hi) if lo > 0 else means <= hi))
                   for lo, hi in zip([0.0] + BOUNDS[:-1], BOUNDS)]
        with_data = int(np.sum((post.alpha != 1) | (post.beta != 1)))
        pm = stats.pool_metrics[name]
        assert list(pm.mean_histogram) == buckets
        assert pm.prompts_with_data == with_data
        assert m[f"moppsd_pool_prompts{label}"] == info.prompt_count == len(post.ids)
        assert m[f"moppsd_pool_prompts_with_data{label}"] == with_data
        assert m[f"moppsd_pool_selects_total{label}"] == info.select_count
        assert m[f"moppsd_pool_updates_total{label}"] == info.update_count
        assert m[f'moppsd_pool_info{{pool="{name}",strategy="{info.strategy}"}}'] == 1
        cumulative = np.cumsum(buckets)
        for bound, n in zip(BOUNDS, cumulative):
            le = "1" if bound == 1.0 else str(bound)
            assert m[f'moppsd_pool_posterior_mean_bucket{{pool="{name}",le="{le}"}}'] == n
        assert m[f'moppsd_pool_posterior_mean_bucket{{pool="{name}",le="+Inf"}}'] == len(post.ids)
        assert m[f"moppsd_pool_posterior_mean_count{label}"] == len(post.ids)
        assert m[f"moppsd_pool_posterior_mean_sum{label}"] == pytest.approx(float(np.sum(means)), rel=1e-9)
        assert pm.mean_sum == pytest.approx(float(np.sum(means)), rel=1e-9)
        pool_doc = next(p for p in doc["pools"] if p["name"] == name)
        assert pool_doc["mean_histogram"] == buckets and pool_doc["prompts_with_data"] == with_data
    # "math": the update of 8 prompts with 0,1,2,3,4,4,0,2 of 4, all at the prior before it.
    last = stats.pool_metrics["math"].recent_updates[-1]
    assert (last.prompts, last.predicted, last.realised) == (8, 0.5, 16 / 32)
    assert (last.all_solved, last.all_failed) == (2 / 8, 2 / 8)
    label = '{pool="math"}'
    assert m[f"moppsd_pool_last_update_success_rate{label}"] == last.realised
    assert m[f"moppsd_pool_last_update_predicted_rate{label}"] == last.predicted
    assert m[f"moppsd_pool_last_update_all_solved_ratio{label}"] == last.all_solved
    assert m[f"moppsd_pool_last_update_all_failed_ratio{label}"] == last.all_failed
    assert m[f"moppsd_pool_last_update_effective_ratio{label}"] == pytest.approx(0.5)
    assert m[f"moppsd_pool_last_select_batch_size{label}"] == stats.pool_metrics["math"].last_select_batch == 8
    assert m[f"moppsd_pool_last_select_mean_sample{label}"] == pytest.approx(
        stats.pool_metrics["math"].last_select_mean_sample, rel=1e-12)
    # "code" has neither selected nor updated: no last-select or last-update samples.
    assert 'moppsd_pool_last_update_success_rate{pool="code"}' not in m
    assert 'moppsd_pool_last_select_batch_size{pool="code"}' not in m
    # Requests by method and code, as Stats counted them (the Stats call itself is counted once
    # answered, so /metrics, read right after it, has one more).
    for method, ms in stats.methods.items():
        ok = ms.count - ms.errors + (1 if method == "Stats" else 0)
        assert m[f'moppsd_requests_total{{method="{method}",code="OK"}}'] == ok
        for code, n in ms.errors_by_code.items():
            assert m[f'moppsd_requests_total{{method="{method}",code="{code.name}"}}'] == n
    assert stats.store is not None and stats.store.persistent
    assert m["moppsd_persistent"] == 1


def test_strategy_state_gauges_match_pool_info(http: HTTPServer) -> None:
    """GRESO's p_easy/p_hard and the steps a dps pool counted appear on /metrics and in the
    dashboard's JSON as PoolInfo reports them; MoPPS pools have none."""
    c = http.client
    fill(c)
    c.create_pool("skip", seed=5, strategy="greso", greso={"p_easy": 0.6, "p_hard": 0.4})
    c.create_pool("hmm", seed=6, strategy="dps")
    for step in range(3):
        for name in ("skip", "hmm"):
            chosen = c.select(name, 4, candidates=np.arange(16)).ids
            # All solved: z_easy = 1 pushes p_easy down each step, z_hard = 0 pushes p_hard up.
            c.update(name, chosen, successes=np.full(4, 8), rollouts=8, step=step)
    m = samples(http.get("/metrics")[2])
    doc = {p["name"]: p for p in json.loads(http.get("/api/stats.json")[2])["pools"]}
    infos = {p.name: p for p in c.list_pools()}
    skip = infos["skip"]
    assert skip.steps == 3 and skip.greso_p_easy == pytest.approx(0.57) and skip.greso_p_hard == pytest.approx(0.43)
    for name, gauges in (("skip", {"steps": skip.steps, "p_easy": skip.greso_p_easy, "p_hard": skip.greso_p_hard}),
                         ("hmm", {"steps": infos["hmm"].steps})):
        strategy = infos[name].strategy
        for key, value in gauges.items():
            assert m[f'moppsd_pool_strategy_state{{pool="{name}",strategy="{strategy}",name="{key}"}}'] == value
        assert doc[name]["strategy_state"] == pytest.approx(gauges)
    assert not any(k.startswith('moppsd_pool_strategy_state{pool="math"') for k in m)
    assert doc["math"]["strategy_state"] == {}


def raw(port: int, data: bytes) -> bytes:
    """Sends bytes on a new connection; what came back before the server closed it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may refuse and close before it has read everything
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except OSError:
            pass
        return out


def test_bad_http_requests_are_refused_and_zeromq_goes_on(http: HTTPServer) -> None:
    fill(http.client)
    before = http.client.get("math")
    assert raw(http.port, b"\x00\xff garbage \r\n\r\n").startswith(b"HTTP/1.1 400")
    assert raw(http.port, b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 200_000 + b"\r\n\r\n").startswith(b"HTTP/1.1 400")
    big = b"x" * 100_000
    assert raw(http.port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(big) + big).startswith(
        b"HTTP/1.1 413")
    assert raw(http.port, b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").startswith(
        b"HTTP/1.1 404")
    # Half-open connections that never finish a request do not stop others from being served.
    idle = [socket.create_connection(("127.0.0.1", http.port)) for _ in range(50)]
    for s in idle:
        s.sendall(b"GET /metr")
    try:
        assert http.get("/healthz")[0] == 200
        assert http.client.health() == "SERVING"
        after = http.client.get("math")
        assert np.array_equal(before.alpha, after.alpha) and np.array_equal(before.beta, after.beta)
        batch = http.client.select("math", 4, candidates=np.arange(40))
        assert len(batch.ids) == 4
    finally:
        for s in idle:
            s.close()


def seeded_run(client: mopps.Client, rounds: int) -> List[Tuple[bytes, bytes, int]]:
    """Selects and updates from a fixed seed; every reply's content, in order."""
    client.create_pool("load", seed=11)
    client.register("load", np.arange(2000))
    rng = np.random.default_rng(5)
    out = []
    for i in range(rounds):
        batch = client.select("load", 64, candidates=rng.choice(2000, 512, replace=False).astype(np.uint64))
        successes = rng.integers(0, 5, size=64).astype(np.float64)
        result = client.update("load", batch.ids, successes=successes, rollouts=4, request_id=f"r{i}")
        out.append((batch.ids.tobytes(), batch.samples.tobytes(), result.updated))
    post = client.get("load")
    out.append((post.alpha.tobytes(), post.beta.tobytes(), len(post.ids)))
    return out


def test_200_concurrent_scrapes_change_no_rpc_result(tmp_path: Path) -> None:
    quiet = HTTPServer(tmp_path, "quiet")
    try:
        expected = seeded_run(quiet.client, 150)
    finally:
        quiet.stop()
    scraped = HTTPServer(tmp_path, "scraped")
    stop = threading.Event()
    scrapes: List[int] = []

    def scrape() -> None:
        while not stop.is_set():
            status, _, body = scraped.get("/metrics")
            assert status == 200 and "moppsd_ready 1" in body
            scrapes.append(status)

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
            futures = [pool.submit(scrape) for _ in range(200)]
            time.sleep(0.2)
            try:
                got = seeded_run(scraped.client, 150)
            finally:
                stop.set()
            for f in futures:
                f.result()
        assert len(scrapes) >= 200
        assert got == expected
    finally:
        scraped.stop()


def test_non_loopback_http_is_refused_without_insecure(tmp_path: Path) -> None:
    binary = mopps.find_moppsd()
    r = subprocess.run([binary, "serve", "--state-dir", str(tmp_path / "s"), "--http", "0.0.0.0:0"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--insecure" in r.stderr
