"""A short version of `make load`: 4 client processes for 2 s; no lost replies, exact sums."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))

import load  # noqa: E402


def test_concurrent_clients_lose_nothing(server):
    r = load.run(server.listen, clients=4, seconds=2)
    assert r["lost"] == 0
    assert r["exact"], "final posteriors differ from the sums of acknowledged updates"
    assert r["requests"] > 100
