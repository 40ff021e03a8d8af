"""Exceptions raised by the mopps client."""

from __future__ import annotations


class MoppsError(Exception):
    """Base class of every error this package raises."""


class RpcError(MoppsError):
    """The sidecar answered with a non-OK status.

    ``code`` is the gRPC canonical code name (e.g. ``"INVALID_ARGUMENT"``, ``"NOT_FOUND"``);
    ``message`` is the server's explanation, which names the offending field.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class InvalidArgument(RpcError, ValueError):
    """The client refused a call before sending it (``code == "INVALID_ARGUMENT"``, like the
    server's own refusals); the message names the field. Also a ``ValueError``."""

    def __init__(self, message: str) -> None:
        super().__init__("INVALID_ARGUMENT", message)


class Unavailable(RpcError):
    """No reply within the timeout (the server is down, overloaded, or unreachable)."""

    def __init__(self, message: str) -> None:
        super().__init__("UNAVAILABLE", message)


class LaunchError(MoppsError):
    """``mopps.launch`` could not start or reach a moppsd process."""
