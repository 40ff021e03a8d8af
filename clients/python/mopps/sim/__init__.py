"""The simulator behind ``make demo`` and ``make evidence``: a synthetic RLVR task (:mod:`.task`,
where the environment is documented), its outputs (:mod:`.report`) and the command line
(``python -m mopps.sim``, :mod:`.cli`) and the reference rules the differential tests check moppsd
against (:mod:`.rules`).

>>> from mopps import sim
>>> rows = sim.run("uniform", sim.TaskConfig(steps=3), seed=0)
>>> [int(r["rollouts"]) for r in rows]
[512, 1024, 1536]
"""

from .cli import main
from . import rules
from .report import Results, format_table, mean_ci, plot, summarize, to_target, write_csv, write_report
from .task import SCENARIOS, SIDECAR_STRATEGIES, STRATEGIES, Row, Task, TaskConfig, run, scenario, spearman

__all__ = [
    "SCENARIOS", "SIDECAR_STRATEGIES", "STRATEGIES", "Results", "Row", "Task", "TaskConfig", "format_table", "main",
    "mean_ci", "plot", "rules", "run", "scenario", "spearman", "summarize", "to_target", "write_csv", "write_report",
]
