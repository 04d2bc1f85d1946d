"""Run a private Mosquitto with the configuration the product ships (deploy/mosquitto/).

Used by `omnishelf broker`, the tests, the demo and the benchmarks: a free port on 127.0.0.1 (and
optionally a TLS listener), a password file written from the store secret, the ACL rendered for
the stores it serves, the checked-in settings, and persistence in its work dir (a restart on the
same work dir keeps what it acknowledged). Adding clients or stores rewrites the password and ACL
files and sends SIGHUP, which makes Mosquitto reload them (as provisioning does in a store).
"""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from broker_access.address import BrokerAddress
from broker_access.credentials import client_password, service_users
from controller.broker_config import TlsListener, device_ids, render_acl, render_conf
from controller.errors import ControllerError
from controller.limits_plugin import limits_plugin
from controller.provisioning import write_password_file
from controller.settings import Settings

STOP_TIMEOUT_S = 5.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
RELOAD_TIMEOUT_S = 10.0
RELOAD_WAIT_S = 0.2  # a TLS-only broker's reload is waited for, not probed


def find_mosquitto() -> str:
    for candidate in (shutil.which("mosquitto"), "/usr/sbin/mosquitto"):
        if candidate and Path(candidate).exists():
            return candidate
    raise ControllerError("mosquitto is not installed (make setup installs it)")


def _dies_with_parent() -> Callable[[], None] | None:
    """For the child: SIGTERM when its parent dies, even by SIGKILL (Linux's PR_SET_PDEATHSIG),
    so that a killed `omnishelf broker`, demo or test run leaves no Mosquitto behind.

    Only from the main thread: the signal follows the thread that forked the child, and a
    worker thread (asyncio.to_thread) can end while the process lives on."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the child
    except (OSError, AttributeError):
        return None  # not Linux

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    return set_death_signal


def _accepts(host: str, port: int, username: str, password: str) -> bool:
    """Whether the broker accepts this client now: one MQTT 3.1.1 CONNECT, its CONNACK's
    return code, then DISCONNECT."""

    def text(value: str) -> bytes:
        raw = value.encode()
        return len(raw).to_bytes(2, "big") + raw

    # Protocol name and level 4, flags: username, password, clean session; keep-alive 5 s.
    body = text("MQTT") + bytes([4, 0xC2]) + (5).to_bytes(2, "big")
    body += text(username) + text(username) + text(password)
    length, remaining = bytearray(), len(body)
    while True:  # the remaining length as a variable byte integer (MQTT-2.2.3)
        byte, remaining = remaining % 128, remaining // 128
        length.append(byte | (0x80 if remaining else 0))
        if not remaining:
            break
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(bytes([0x10]) + bytes(length) + body)
            connack = sock.recv(4)
            sock.sendall(b"\xe0\x00")
    except OSError:
        return False
    return len(connack) == 4 and connack[0] == 0x20 and connack[3] == 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalBroker:
    """A Mosquitto process owned by the caller; use as a context manager."""

    def __init__(
        self,
        workdir: Path,
        store_secret: str,
        *,
        port: int | None = None,
        stores: tuple[str, ...] = (),
        tls: TlsListener | None = None,
        plain: bool = True,
    ):
        self.workdir = workdir
        self.store_secret = store_secret
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.tls = tls
        self.plain = plain  # False: the TLS listener only
        self._stores: set[str] = set()
        self._clients: set[str] = set()
        self._process: subprocess.Popen[bytes] | None = None
        self._reloads = 0
        self._probe: str | None = None  # the account that proves a reload (_reload)
        for store in stores:
            self._register_store(store)

    @property
    def url(self) -> str:
        if not self.plain and self.tls is not None:
            return self.tls_address().url
        return f"mqtt://{self.host}:{self.port}"

    def address(self) -> BrokerAddress:
        """Where clients connect: the plain listener, or the TLS one when there is no other."""
        if not self.plain and self.tls is not None:
            return self.tls_address()
        return BrokerAddress(self.host, self.port)

    def tls_address(
        self, cert_file: Path | None = None, key_file: Path | None = None
    ) -> BrokerAddress:
        if self.tls is None:
            raise ControllerError("this broker has no TLS listener")
        return BrokerAddress(
            _reachable(self.tls.host), self.tls.port, True, self.tls.ca_file, cert_file, key_file
        )

    def password(self, username: str) -> str:
        return client_password(self.store_secret, username)

    def controller_settings(self, store_id: str, state_db: Path, **overrides: Any) -> Settings:
        """Settings of a controller on this broker that adopts every simulated label (the tests'
        and benchmarks' store: one render worker, QR codes to a placeholder shop)."""
        self.add_store(store_id)
        values: dict[str, Any] = {
            "store_id": store_id,
            "broker_url": self.url,
            "store_secret": self.store_secret,
            "state_db": state_db,
            "adopt": ("lbl-*",),
            "adopt_access_points": ("ap-*",),  # the simulator's access points
            "render_workers": 1,
            "public_url": "https://shop.example",
        }
        if not self.plain and self.tls is not None:
            values["broker_ca_file"] = self.tls.ca_file
        return Settings(**(values | overrides))

    @property
    def pid(self) -> int | None:
        """The Mosquitto process (for the benchmarks' CPU accounting), None when not running."""
        return self._process.pid if self._process is not None else None

    @property
    def password_file(self) -> Path:
        return self.workdir / "passwords"

    @property
    def acl_file(self) -> Path:
        return self.workdir / "acl"

    @property
    def log_file(self) -> Path:
        return self.workdir / "mosquitto.log"

    @property
    def stores(self) -> frozenset[str]:
        return frozenset(self._stores)

    def _register_store(self, store: str) -> bool:
        if store in self._stores:
            return False
        self._stores.add(store)
        self._clients |= set(service_users(store))
        return True

    def add_store(self, store: str) -> None:
        """Serve a store: its service accounts (controller, catalog, hq, observer) and ACL."""
        if self._register_store(store):
            self._reload()

    def add_clients(self, client_ids: set[str] | list[str]) -> None:
        """Provision devices and access points and make a running broker reload its files."""
        new = device_ids(client_ids) - self._clients
        if new:
            self._clients |= new
            self._reload()

    def _write_files(self) -> None:
        clients = self._clients | ({self._probe} if self._probe else set())
        write_password_file(self.password_file, self.store_secret, clients)
        tmp = self.acl_file.with_suffix(".tmp")
        tmp.write_text(render_acl(self._stores), encoding="utf-8")
        tmp.chmod(0o600)
        tmp.replace(self.acl_file)

    def _reload(self) -> None:
        """Rewrite the files, SIGHUP, and return once Mosquitto has reloaded them: a client
        added a moment ago is refused until then, and on a loaded machine that moment can be
        longer than any fixed wait (the attack matrix was refused "Not authorized" by it). The
        proof is a probe account that only the new password file holds."""
        self._reloads += 1
        self._probe = f"probe-reload-{self._reloads}"
        self._write_files()
        if self._process is None:
            return
        self._process.send_signal(signal.SIGHUP)
        if not self.plain:  # TLS only: no plain listener to probe on
            time.sleep(RELOAD_WAIT_S)
            return
        password = client_password(self.store_secret, self._probe)
        deadline = time.monotonic() + RELOAD_TIMEOUT_S
        while not _accepts(self.host, self.port, self._probe, password):
            if time.monotonic() > deadline:
                raise ControllerError(f"mosquitto did not reload its files in {RELOAD_TIMEOUT_S} s")
            time.sleep(0.01)

    def _write_config(self) -> Path:
        conf = self.workdir / "mosquitto.conf"
        text = render_conf(
            host=self.host,
            port=self.port if self.plain else None,
            workdir=self.workdir,
            password_file=self.password_file,
            acl_file=self.acl_file,
            log_file=self.log_file,
            limits_plugin=limits_plugin(),
            tls=self.tls,
        )
        conf.write_text(text, encoding="utf-8")
        return conf

    def start(self) -> None:
        """Start Mosquitto; on a work dir used before, it reloads what it persisted there."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o700)
        self._write_files()
        conf = self._write_config()
        self._process = subprocess.Popen(  # noqa: S603 - fixed binary, our own config
            [find_mosquitto(), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_dies_with_parent(),  # noqa: PLW1509 - one async-signal-safe call
        )
        try:
            self._wait_listening()
        except BaseException:  # not listening, or interrupted (Ctrl-C, SIGTERM): never orphaned
            self.stop()
            raise

    def _wait_listening(self) -> None:
        assert self._process is not None
        listeners = [(self.host, self.port)] if self.plain else []
        if self.tls is not None:
            listeners.append((_reachable(self.tls.host), self.tls.port))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
                log = self.log_file.read_text() if self.log_file.exists() else ""
                raise ControllerError(f"mosquitto exited at start: {err}{log}")
            if all(_listening(host, port) for host, port in listeners):
                return
            time.sleep(0.05)
        raise ControllerError(f"mosquitto did not listen on {listeners} within 10 s")

    def exited(self, within_s: float) -> int | None:
        """Mosquitto's exit status if it ended (waiting up to `within_s`), else None."""
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout=within_s)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is saved on the way out (the chaos and persistence
        tests); `start` again on the same work dir restarts it."""
        if self._process is None:
            return
        self._process.kill()
        self._process.wait()
        if self._process.stderr:
            self._process.stderr.close()
        self._process = None

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=STOP_TIMEOUT_S)
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


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _reachable(host: str) -> str:
    """Where a listener bound to `host` is reached from this host (a wildcard: the loopback)."""
    return "127.0.0.1" if host in {"0.0.0.0", "::"} else host  # noqa: S104 - compared, not bound
