"""Run a private Mosquitto with the configuration the product ships (deploy/mosquitto/).

Used by the tests, the demo and the benchmarks: a free port on 127.0.0.1, a password file
written from the store secret, the checked-in ACL and settings. Adding clients rewrites the
password file and sends SIGHUP, which makes Mosquitto reload it (as provisioning does in a store).
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from controller.errors import ControllerError
from controller.provisioning import CONTROLLER_USER, HQ_USER, write_password_file
from controller.settings import Settings

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise ControllerError("mosquitto is not installed (make setup installs it)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalBroker:
    """A Mosquitto process owned by the caller; use as a context manager."""

    def __init__(self, workdir: Path, store_secret: str, *, port: int | None = None):
        self.workdir = workdir
        self.store_secret = store_secret
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self._clients: set[str] = {CONTROLLER_USER, HQ_USER}
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def controller_settings(self, store_id: str, state_db: Path, **overrides: Any) -> Settings:
        """Settings of a controller on this broker that adopts every simulated label (the tests'
        and benchmarks' store: one render worker, QR codes to a placeholder shop)."""
        values: dict[str, Any] = {
            "store_id": store_id,
            "broker_url": self.url,
            "store_secret": self.store_secret,
            "state_db": state_db,
            "adopt": ("lbl-*",),
            "render_workers": 1,
            "public_url": "https://shop.example",
        }
        return Settings(**(values | overrides))

    @property
    def pid(self) -> int | None:
        """The Mosquitto process (for the benchmarks' CPU accounting), None when not running."""
        return self._process.pid if self._process is not None else None

    @property
    def password_file(self) -> Path:
        return self.workdir / "passwords"

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    def _write_config(self) -> Path:
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"listener {self.port} {self.host}",
                    f"password_file {self.password_file}",
                    f"acl_file {DEPLOY_DIR / 'acl'}",
                    "persistence false",
                    # Stay the user who started it: the work dir and password file are private.
                    f"user {getpass.getuser()}",
                    f"log_dest file {self.log_file}",
                    "log_type error",
                    "log_type warning",
                    "log_type notice",
                    f"include_dir {DEPLOY_DIR / 'conf.d'}",
                    "",
                ]
            ),
            encoding="utf-8",
        )
        return conf

    def add_clients(self, client_ids: set[str] | list[str]) -> None:
        """Provision clients and make a running broker reload its password file."""
        new = set(client_ids) - self._clients
        if not new:
            return
        self._clients |= new
        write_password_file(self.password_file, self.store_secret, self._clients)
        if self._process is not None:
            self._process.send_signal(signal.SIGHUP)
            time.sleep(0.05)  # Mosquitto reloads on its next loop iteration

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        write_password_file(self.password_file, self.store_secret, self._clients)
        conf = self._write_config()
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, our own config
            [find_mosquitto(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                log = self.log_file.read_text() if self.log_file.exists() else ""
                raise ControllerError(f"mosquitto exited at start: {err}{log}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise ControllerError(f"mosquitto did not listen on {self.port} within 10 s")

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
