"""The moppsd binary a wheel built by `make wheel` carries (mopps/_bin/moppsd), and the `moppsd`
command such a wheel installs. A source install (`pip install ./clients/python`) carries none."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional


def bundled_moppsd() -> Optional[str]:
    """Path of the moppsd inside this installed package, or None when it has none."""
    candidate = Path(__file__).resolve().parent / "_bin" / "moppsd"
    return str(candidate) if os.access(candidate, os.X_OK) else None


def main(argv: Optional[List[str]] = None) -> None:
    """The `moppsd` console command of the wheel: runs the bundled binary with the same arguments."""
    binary = bundled_moppsd()
    if binary is None:
        sys.stderr.write(
            "moppsd: this mopps installation carries no moppsd binary; install the wheel from "
            "`make wheel`, or build moppsd (`make build`) and set MOPPSD=/path/to/moppsd\n")
        raise SystemExit(1)
    args = sys.argv[1:] if argv is None else argv
    os.execv(binary, [binary, *args])
