"""Socket options every MQTT client of the product sets."""

from __future__ import annotations

import socket


def disable_nagle(sock: object) -> None:
    """Switch Nagle's algorithm off on an MQTT client's socket (paho leaves it on).

    With it on, a small publish written while the previous one is unacknowledged at the TCP
    level (a Desired, then its chunk) waits for the broker's delayed ACK: ~40 ms on Linux, which
    was most of a single price change's latency. Mosquitto sets the same on its side
    (`set_tcp_nodelay`). `sock` is what paho's `socket()` returns (a TLS socket is a socket)."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
