"""Serving the web app in the caller's event loop (`omnishelf serve` and the demo).

The socket is bound before anything else starts, so a taken port is a one-line error and not a
controller started for nothing. The server leaves signals to its caller: Ctrl-C and SIGTERM stop
the whole process in order, and a controller that fails ends the server with it (uvicorn's own
handlers would only stop the server and let the process exit 0).
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator

import uvicorn

from controller.errors import ControllerError


class PortUnavailable(ControllerError):
    """The web app's address cannot be listened on."""


def listen_socket(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A listening, non-blocking socket on host:port (0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"port {port} on {host} is in use") from exc
        raise PortUnavailable(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.setblocking(False)
    return sock


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: whoever runs it decides when it stops."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
