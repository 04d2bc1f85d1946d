"""`omnishelf demo`'s refusals: a taken port, an unknown or missing broker."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from controller.demo import stack
from controller.demo.stack import DemoError, listen_socket, pick_broker
from controller.errors import ControllerError

ROOT = Path(__file__).resolve().parents[3]


def test_a_taken_port_is_refused_with_a_hint(tmp_path: Path) -> None:
    """The console's port in use: exit 2, the port named and --port suggested, nothing started."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "controller.demo",
                "--port",
                str(port),
                "--workdir",
                str(tmp_path),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"port {port}" in result.stdout
    assert "--port" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert not (tmp_path / "state.db").exists()


def test_listen_socket_free_port() -> None:
    """Port 0 listens on a free port of 127.0.0.1."""
    with listen_socket(0) as sock:
        host, port = sock.getsockname()
        assert host == "127.0.0.1"
        assert port > 0


def test_broker_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto falls back to amqtt without Mosquitto; asking for Mosquitto then is an error."""

    def missing() -> str:
        raise ControllerError("mosquitto is not installed")

    monkeypatch.setattr(stack, "find_mosquitto", missing)
    assert pick_broker("auto") == "amqtt"
    assert pick_broker("amqtt") == "amqtt"
    with pytest.raises(DemoError, match="--broker amqtt"):
        pick_broker("mosquitto")
    with pytest.raises(DemoError, match="must be one of"):
        pick_broker("rabbitmq")
