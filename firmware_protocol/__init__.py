"""omnishelf device protocol v1: a sans-IO codec shared by the controller and the simulator.

This package imports no I/O library (no asyncio, socket, MQTT client); tests enforce that.
PROTOCOL.md beside this file is the specification.
"""

from firmware_protocol.codec import NEED_DATA, Decoder, decode, encode
from firmware_protocol.errors import ProtocolError

__all__ = ["NEED_DATA", "Decoder", "ProtocolError", "decode", "encode"]
