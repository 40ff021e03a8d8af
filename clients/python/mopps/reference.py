"""The MoPPS reference's file formats.

- State: ``{id: [alpha, beta], ...}`` (the reference's saved sampler state).
- Offline evaluation: ``{id: [0/1, ...], ...}`` (rollout outcomes per prompt), turned into priors
  alpha = multiplier * successes + alpha0, beta = multiplier * failures + beta0 (multiplier 3 as in the
  reference).

Ids in these files are strings. A canonical decimal string ("0", "17", no sign, no leading zeros,
< 2**64) is that number. Any other key is mapped to the 64-bit FNV-1a hash of its UTF-8 bytes, and the
server keeps the original key next to the id, so an export writes the same keys back. moppsd's
``import-state`` command uses the same rule.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Tuple, Union

import numpy as np
import numpy.typing as npt

#: A path to a JSON file, or its already-loaded content.
Source = Union[str, "os.PathLike[str]", Dict[str, Any]]
#: (ids, alpha, beta, names): what the loaders return.
Loaded = Tuple[npt.NDArray[np.uint64], npt.NDArray[np.float64], npt.NDArray[np.float64], List[str]]

_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3


def fnv1a64(text: str) -> int:
    h = _FNV_OFFSET
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def key_to_id(key: str) -> Tuple[int, str]:
    """(id, name): name is "" when the key is a canonical decimal id, else the key itself."""
    if key.isascii() and key.isdigit() and (key == "0" or not key.startswith("0")) and int(key) < 2**64:
        return int(key), ""
    return fnv1a64(key), key


def _load(source: Source) -> Dict[str, Any]:
    if isinstance(source, dict):
        return source
    with open(source, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{source}: expected a JSON object {{id: ...}}")
    return data


def _ids(keys: List[str]) -> Tuple[npt.NDArray[np.uint64], List[str]]:
    ids: List[int] = []
    names: List[str] = []
    seen: Dict[int, str] = {}
    for key in keys:
        i, name = key_to_id(str(key))
        if i in seen:
            raise ValueError(f"keys {seen[i]!r} and {key!r} map to the same id {i}")
        seen[i] = key
        ids.append(i)
        names.append(name)
    return np.array(ids, dtype=np.uint64), names


def load_state(source: Source) -> Loaded:
    """Reads ``{id: [alpha, beta]}``; returns (ids, alpha, beta, names)."""
    data = _load(source)
    keys = list(data)
    for k in keys:
        v = data[k]
        if not (isinstance(v, (list, tuple)) and len(v) == 2):
            raise ValueError(f"state entry {k!r}: expected [alpha, beta], got {v!r}")
    ids, names = _ids(keys)
    alpha = np.array([float(data[k][0]) for k in keys])
    beta = np.array([float(data[k][1]) for k in keys])
    return ids, alpha, beta, names


def load_eval(source: Source, multiplier: float = 3.0, prior: Tuple[float, float] = (1.0, 1.0)) -> Loaded:
    """Reads ``{id: [0/1, ...]}``; returns (ids, alpha, beta, names) with
    alpha = multiplier * successes + prior[0], beta = multiplier * failures + prior[1]."""
    data = _load(source)
    keys = list(data)
    successes, failures = [], []
    for k in keys:
        outcomes = np.asarray(data[k], dtype=float)
        if outcomes.ndim != 1 or not np.all((outcomes == 0) | (outcomes == 1)):
            raise ValueError(f"evaluation entry {k!r}: expected a list of 0/1 outcomes")
        successes.append(outcomes.sum())
        failures.append(len(outcomes) - outcomes.sum())
    ids, names = _ids(keys)
    return (ids, multiplier * np.array(successes) + prior[0], multiplier * np.array(failures) + prior[1], names)


def dump_state(ids: npt.NDArray[np.uint64], alpha: npt.ArrayLike, beta: npt.ArrayLike,
               names: Dict[int, str]) -> Dict[str, List[float]]:
    """``{id: [alpha, beta]}``, keys written back as imported. Values are the server's float32
    posteriors, written with the shortest decimal that reads back to the same float32."""
    out = {}
    for i, a, b in zip(ids.tolist(), np.asarray(alpha, dtype=np.float32), np.asarray(beta, dtype=np.float32)):
        out[names.get(i, str(i))] = [float(str(a)), float(str(b))]
    return out
