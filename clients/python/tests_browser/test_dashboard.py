"""The dashboard (`/` of `moppsd serve --http`) in headless Chromium, driven by selenium: the page
is loaded against a server whose pools have known content, the numbers it renders are checked, and
a screenshot is saved under $MOPPS_SCREENSHOT_DIR (default: pytest's temporary folder), so a test
run leaves the working tree as it was; `make dashboard-screenshot` saves it as docs/dashboard.png,
the picture the README shows.

Needs Debian's chromium and chromium-driver and selenium from PyPI (`make deps`); `make
test-browser` runs it.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator

import numpy as np
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

import mopps


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("MOPPS_SCREENSHOT_DIR") or tmp_path)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[mopps.Client, int]]:
    log_path = tmp_path / "moppsd.log"
    with open(log_path, "w") as log:
        process = mopps.start(state_dir=str(tmp_path / "s"), stderr=log, extra_args=["--http", "127.0.0.1:0"])
        deadline = time.monotonic() + 10
        while not (m := re.search(r"http on 127\.0\.0\.1:(\d+)", log_path.read_text())):
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.05)
        client = mopps.Client(process.listen, timeout=10.0)
        yield client, int(m.group(1))
        client.close()
        assert process.stop() == 0, log_path.read_text()


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert os.path.exists(chromium) and os.path.exists(driver_path), "`make deps` installs chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1100"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the dashboard did not show it in time"
        time.sleep(0.1)


def refreshes(driver: WebDriver) -> int:
    return int(driver.find_element(By.TAG_NAME, "body").get_attribute("data-refreshed") or 0)


# What the page shows, read from the rendered DOM in one script: the page re-renders every second,
# and a script runs between two renders, so the figures read together belong together.
READ_DOM = """
const out = {};
for (const section of document.querySelectorAll("section.pool")) {
  const figures = {};
  for (const dd of section.querySelectorAll("dd[data-k]")) figures[dd.dataset.k] = dd.textContent;
  const bars = [...section.querySelectorAll('svg[data-k="histogram"] g.bar')];
  out[section.dataset.pool] = {
    figures,
    bars: bars.map(b => Number(b.dataset.count)),
    labels: bars.map(b => b.querySelector("text").textContent),
    calibration: [...section.querySelectorAll('svg[data-k="calibration"] circle.pt')]
      .map(c => [Number(c.dataset.predicted), Number(c.dataset.realised)]),
    effective: [...section.querySelectorAll('svg[data-k="effective"] circle')].map(c => Number(c.dataset.effective)),
  };
}
return out;
"""


def shown(driver: WebDriver) -> Dict[str, Any]:
    result: Dict[str, Any] = driver.execute_script(READ_DOM)
    return result


def test_dashboard_renders_the_pools(server: tuple[mopps.Client, int], browser: WebDriver,
                                     screenshot_dir: Path) -> None:
    client, port = server
    client.create_pool("math", seed=1)
    client.register("math", np.arange(100))
    # 10 prompts always solved (posterior mean 5/6), 10 never (1/6), 10 half (1/2); 70 untouched (1/2).
    ids = np.arange(30, dtype=np.uint64)
    client.update("math", ids, successes=np.repeat([4.0, 0.0, 2.0], 10), rollouts=4)
    # A second batch: the always-solved ten again (predicted 5/6, realised 1, effective 0).
    client.update("math", ids[:10], successes=np.full(10, 4.0), rollouts=4)
    client.select("math", 8, candidates=np.arange(100))
    client.create_pool("code", seed=2, strategy="threshold")
    client.register("code", np.arange(5))
    stats = client.stats()

    browser.get(f"http://127.0.0.1:{port}/")
    wait_for(lambda: refreshes(browser) >= 1)
    assert browser.find_element(By.ID, "status").text == "ready"
    assert browser.find_element(By.ID, "version").text == mopps.__version__

    pools = shown(browser)
    math, code = pools["math"], pools["code"]
    f = math["figures"]
    assert f["prompts"] == "100"
    assert f["prompts_with_data"] == "30"
    assert f["selects"] == "1"
    assert f["updates"] == "2"
    assert f["last_update_predicted"] == f"{5 / 6:.3f}"
    assert f["last_update_realised"] == "1.000"
    assert f["last_update_effective"] == "0.000"
    assert f["last_select_mean_sample"] == f"{stats.pool_metrics['math'].last_select_mean_sample:.3f}"
    assert code["figures"]["prompts"] == "5" and code["figures"]["updates"] == "0"
    assert code["figures"]["last_update_realised"] == "–"
    assert math["bars"] == [0, 10, 0, 0, 80, 0, 0, 0, 10, 0]
    assert math["labels"] == ["0", "10", "0", "0", "80", "0", "0", "0", "10", "0"]
    assert math["calibration"] == [pytest.approx([0.5, 0.5]), pytest.approx([5 / 6, 1.0])]
    assert math["effective"] == [pytest.approx(1 / 3), 0.0]

    def figure(pool: str, key: str) -> str:
        value: str = shown(browser)[pool]["figures"][key]
        return value

    # Selections per second: the page turns the change of the counter between polls into a rate.
    seen = refreshes(browser)
    for _ in range(30):
        client.select("math", 8, candidates=np.arange(100))
    wait_for(lambda: refreshes(browser) >= seen + 2 and figure("math", "selects") == "31")

    # The server keeps the last 64 updates; the page keeps every one it saw: 2 + 2 × 50, seen in
    # two polls, are all charted.
    for _ in range(2):
        seen = refreshes(browser)
        for i in range(50):
            client.update("math", ids[i % 30 : i % 30 + 1], successes=np.array([2.0]), rollouts=4)
        wait_for(lambda: refreshes(browser) >= seen + 2)
    assert len(shown(browser)["math"]["effective"]) == 102

    # The screenshot for the README: a trainer-like loop running (prompts of known difficulty,
    # seeded outcomes), so the rates, calibration and effective-ratio charts have something to show.
    stop = threading.Event()

    def train() -> None:
        rng = np.random.default_rng(0)
        difficulty = np.linspace(0.02, 0.98, 100)
        while not stop.is_set():
            batch = client.select("math", 16, candidates=rng.choice(100, 48, replace=False).astype(np.uint64))
            successes = rng.binomial(8, difficulty[batch.ids.astype(int)]).astype(float)
            client.update("math", batch.ids, successes=successes, rollouts=8)
            time.sleep(0.05)

    trainer = threading.Thread(target=train)
    trainer.start()
    try:
        time.sleep(3)
        seen = refreshes(browser)
        wait_for(lambda: refreshes(browser) >= seen + 2)
        assert float(figure("math", "updates_per_s")) > 1
        screenshot_dir.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(screenshot_dir / "dashboard.png"))
    finally:
        stop.set()
        trainer.join()
    assert (screenshot_dir / "dashboard.png").stat().st_size > 10_000


def test_dashboard_rate_is_positive_while_selecting(server: tuple[mopps.Client, int], browser: WebDriver) -> None:
    client, port = server
    client.create_pool("p", seed=1)
    client.register("p", np.arange(50))
    browser.get(f"http://127.0.0.1:{port}/")
    wait_for(lambda: refreshes(browser) >= 1)
    rates = []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        client.select("p", 4, candidates=np.arange(50))
        time.sleep(0.01)
        rates.append(shown(browser)["p"]["figures"]["selects_per_s"])
    assert max(float(r) for r in rates) > 1.0
