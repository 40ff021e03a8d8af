"""mopps: Python client for moppsd, the MoPPS prompt-selection sidecar.

>>> import mopps, numpy as np
>>> with mopps.launch() as client:                                      # doctest: +SKIP
...     client.create_pool("math", decay=0.5, seed=1)
...     batch = client.select("math", 256, candidates=np.arange(4096))
...     client.update("math", batch.ids, successes=np.zeros(256), rollouts=8)
"""

from .client import Client, PoolInfo, Posteriors, Selection, SnapshotInfo, UpdateResult, group_rewards
from .errors import InvalidArgument, LaunchError, MoppsError, RpcError, Unavailable
from .events import Event, Subscriber
from .launch import connect, find_moppsd, launch, start

__all__ = [
    "Client",
    "Event",
    "InvalidArgument",
    "LaunchError",
    "MoppsError",
    "PoolInfo",
    "Posteriors",
    "RpcError",
    "Selection",
    "SnapshotInfo",
    "Subscriber",
    "Unavailable",
    "UpdateResult",
    "connect",
    "find_moppsd",
    "group_rewards",
    "launch",
    "start",
]
from ._version import __version__  # noqa: E402
