"""Exceptions raised by the mopps client, and the status codes of moppsd's replies."""

from __future__ import annotations

import enum
from typing import Optional, Union


class StatusCode(enum.IntEnum):
    """The status code of a reply (gRPC's canonical codes, ``mopps.v1.Code`` on the wire).

    An ``int`` (it equals the wire value) with a ``name``; it also equals its name as a string, so
    ``err.code == "NOT_FOUND"`` and ``err.code == StatusCode.NOT_FOUND`` both hold (``RpcError.code``
    was the name string before; among strings it also sorts as its name). It hashes as the int: use
    the members, not the names, as dict keys. A code this client does not know (a newer
    server) is still a ``StatusCode``, named by its number.

    >>> StatusCode.NOT_FOUND == 5 == StatusCode(5)
    True
    >>> StatusCode(5).name, str(StatusCode.NOT_FOUND), StatusCode.NOT_FOUND == "NOT_FOUND"
    ('NOT_FOUND', 'NOT_FOUND', True)
    """

    OK = 0
    CANCELLED = 1
    UNKNOWN = 2
    INVALID_ARGUMENT = 3
    DEADLINE_EXCEEDED = 4
    NOT_FOUND = 5
    ALREADY_EXISTS = 6
    PERMISSION_DENIED = 7
    RESOURCE_EXHAUSTED = 8
    FAILED_PRECONDITION = 9
    ABORTED = 10
    OUT_OF_RANGE = 11
    UNIMPLEMENTED = 12
    INTERNAL = 13
    UNAVAILABLE = 14
    DATA_LOSS = 15
    UNAUTHENTICATED = 16

    def __eq__(self, other: object) -> bool:
        # Equal to the name too: RpcError.code was the name string before it became a StatusCode.
        if isinstance(other, str):
            return self.name == other
        return int(self) == other

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return int.__hash__(self)

    # Ordered like its name among strings (so that a mix of codes and names sorts), else as the int.
    def __lt__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name < other
        return int(self) < other if isinstance(other, (int, float)) else NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name <= other
        return int(self) <= other if isinstance(other, (int, float)) else NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name > other
        return int(self) > other if isinstance(other, (int, float)) else NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.name >= other
        return int(self) >= other if isinstance(other, (int, float)) else NotImplemented

    def __str__(self) -> str:
        return self.name

    def __format__(self, spec: str) -> str:
        return format(self.name, spec) if not spec or spec[-1] not in "bcdoxXn" else format(int(self), spec)

    @classmethod
    def _missing_(cls, value: object) -> Optional[StatusCode]:
        """A code outside the table (a newer server) becomes a member named by its number."""
        if not isinstance(value, int) or isinstance(value, bool):
            return None
        member = int.__new__(cls, value)
        member._name_ = str(value)
        member._value_ = value
        return member


def status_code(code: Union[StatusCode, int, str]) -> StatusCode:
    """``code`` as a :class:`StatusCode` (from the member, its wire value, or its name)."""
    if isinstance(code, str):
        try:
            return StatusCode[code]
        except KeyError:
            raise ValueError(f"unknown status code name {code!r}") from None
    return StatusCode(code)


class MoppsError(Exception):
    """Base class of every error this package raises."""


class RpcError(MoppsError):
    """The sidecar answered with a non-OK status.

    ``code`` is a :class:`StatusCode` (``e.code == StatusCode.NOT_FOUND``, ``e.code.name ==
    "NOT_FOUND"``; it also equals the name string); ``message`` is the server's explanation, which
    names the offending field.

    >>> try:                                                                  # doctest: +SKIP
    ...     client.get("missing")
    ... except RpcError as e:
    ...     assert e.code == StatusCode.NOT_FOUND
    """

    code: StatusCode
    message: str

    def __init__(self, code: Union[StatusCode, int, str], message: str) -> None:
        resolved = status_code(code)
        super().__init__(f"{resolved.name}: {message}")
        self.code = resolved
        self.message = message


class InvalidArgument(RpcError, ValueError):
    """The client refused a call before sending it (``code == StatusCode.INVALID_ARGUMENT``, like the
    server's own refusals); the message names the field. Also a ``ValueError``."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.INVALID_ARGUMENT, message)


class Unavailable(RpcError):
    """No reply within the timeout (the server is down, overloaded, or unreachable)."""

    def __init__(self, message: str) -> None:
        super().__init__(StatusCode.UNAVAILABLE, message)


class LaunchError(MoppsError):
    """``mopps.launch`` could not start or reach a moppsd process."""
