"""The resume scenario both verl test folders run: 6 steps with a checkpoint at step 3, then a
resume from it in a fresh process (verl_run.py); steps 4-6 must choose exactly the uninterrupted
run's batches and end with identical posteriors."""

import json
import os
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent / "verl_run.py"


def run(tmp_path, name, *flags):
    out = tmp_path / f"{name}.json"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, str(RUN), "--state-dir", str(tmp_path / "mopps-state"), "--ckpt",
                    str(tmp_path / "data.pt"), "--out", str(out), *flags], check=True, env=env, timeout=300)
    return json.loads(out.read_text())


def check_resume(tmp_path, *flags):
    """Returns the uninterrupted run's record after checking the resumed one against it."""
    full = run(tmp_path, "full", *flags)
    assert sorted(map(int, full["batches"])) == [1, 2, 3, 4, 5, 6]
    resumed = run(tmp_path, "resumed", "--resume", *flags)
    assert sorted(map(int, resumed["batches"])) == [4, 5, 6]
    for step in ("4", "5", "6"):
        assert resumed["batches"][step] == full["batches"][step], step
    assert resumed["posterior"] == full["posterior"]
    assert resumed["pool"] == full["pool"]  # select and update counts too
    return full
