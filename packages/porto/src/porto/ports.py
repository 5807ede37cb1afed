"""Ports a porto command binds: checked before anything starts, refused in one clear line.

Two demos on one machine, or a stale server still holding a port, used to collide quietly (the
UI ran without its metrics) or end in a server's traceback or retry loop. Every command that
binds a port now checks it first with :func:`ensure_free`, and turns a failed bind with
:func:`bind_error`, into a :class:`PortInUseError` that names the port, the address, the option
that sets it and what to do — the ``error:`` line the command prints before exiting non-zero.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from porto.errors import ConfigError, PortoError


class PortInUseError(ConfigError):
    """A port a command needs is taken."""

    def __init__(self, port: int, host: str, option: str) -> None:
        super().__init__(
            f"port {port} ({option}) is already in use on {host}: pick another with {option} "
            "or stop what holds it"
        )
        self.port = port
        self.host = host
        self.option = option


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now.

    Binds with SO_REUSEADDR as servers do, so a port left in TIME_WAIT by a server that just
    stopped counts as free, while one a process listens on (on this address or the wildcard)
    does not.
    """
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        return True


def ensure_free(host: str, port: int, option: str) -> None:
    """PortInUseError unless ``host:port`` can be bound; ``option`` is how the user sets it
    (``--ui-metrics-port``). Port 0 (the OS picks one, or off) is always fine."""
    if port and not is_free(host, port):
        raise PortInUseError(port, host, option)


def ensure_all_free(ports: Iterable[tuple[str, int, str]]) -> None:
    """:func:`ensure_free` for each (host, port, option), first clash first; also refuses one
    port given to two options."""
    seen: dict[int, str] = {}
    for host, port, option in ports:
        if port and port in seen:
            raise ConfigError(
                f"port {port} is given to both {seen[port]} and {option}: pick another with "
                f"{option}"
            )
        seen[port] = option
        ensure_free(host, port, option)


def bind_error(exc: OSError, host: str, port: int, option: str) -> PortoError | OSError:
    """The error to raise for a failed bind: PortInUseError when the port is taken, else
    ``exc`` itself."""
    if exc.errno in (errno.EADDRINUSE, errno.EACCES):
        return PortInUseError(port, host, option)
    return exc
