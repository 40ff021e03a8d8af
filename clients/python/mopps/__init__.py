"""mopps: Python client for moppsd, the MoPPS prompt-selection sidecar.

>>> import mopps, numpy as np
>>> with mopps.launch() as client:                                      # doctest: +SKIP
...     client.create_pool("math", decay=0.5, seed=1)
...     batch = client.select("math", 256, candidates=np.arange(4096))
...     client.update("math", batch.ids, successes=np.zeros(256), rollouts=8)

Arrays in results are read-only views of the reply (``np.frombuffer``); copy one to change it.
"""

from ._codec import group_rewards
from ._types import (
    MethodStats, PoolInfo, PoolMetrics, Posteriors, Selection, SnapshotInfo, Stats, StoreMetrics, UpdateFigures,
    UpdateResult,
)
from ._version import __version__
from .client import Client
from .errors import InvalidArgument, LaunchError, MoppsError, RpcError, StatusCode, Unavailable
from .events import Event, Subscriber
from .launch import connect, find_moppsd, launch, start

__all__ = [
    "Client",
    "Event",
    "InvalidArgument",
    "LaunchError",
    "MethodStats",
    "MoppsError",
    "PoolInfo",
    "PoolMetrics",
    "Posteriors",
    "RpcError",
    "Selection",
    "SnapshotInfo",
    "Stats",
    "StatusCode",
    "StoreMetrics",
    "Subscriber",
    "Unavailable",
    "UpdateFigures",
    "UpdateResult",
    "__version__",
    "connect",
    "find_moppsd",
    "group_rewards",
    "launch",
    "start",
]
