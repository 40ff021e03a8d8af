"""The simulator behind ``make demo`` and ``make evidence``: a synthetic RLVR task (:mod:`.task`,
where the environment is documented), its outputs (:mod:`.report`) and the command line
(``python -m mopps.sim``, :mod:`.cli`).

>>> from mopps import sim
>>> rows = sim.run("uniform", sim.TaskConfig(steps=3), seed=0)
>>> [int(r["rollouts"]) for r in rows]
[512, 1024, 1536]
"""

from .cli import main
from .report import Results, format_table, plot, summarize, to_target, write_csv, write_report
from .task import STRATEGIES, Row, Task, TaskConfig, run, spearman

__all__ = [
    "STRATEGIES", "Results", "Row", "Task", "TaskConfig", "format_table", "main", "plot", "run", "spearman",
    "summarize", "to_target", "write_csv", "write_report",
]
