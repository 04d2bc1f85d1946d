"""The controller's settings: environment (OMNISHELF_*), then a .env file, then defaults.

Secrets are never defaults and never live in the repo: the store secret (from which every device
password is derived) comes from OMNISHELF_STORE_SECRET or a file named by
OMNISHELF_STORE_SECRET_FILE, readable by the controller's user only.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from broker_access.address import BrokerAddress
from broker_access.errors import BrokerAccessError
from controller.errors import ControllerError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="OMNISHELF_", env_file=".env", env_file_encoding="utf-8", extra="forbid"
    )

    store_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")] = "store-1"
    broker_url: str = "mqtt://127.0.0.1:1883"  # mqtts://host:8883 for TLS
    broker_ca_file: Path | None = None  # the store CA (omnishelf certs); None: system CAs
    broker_cert_file: Path | None = None  # a client certificate, where the broker requires one
    broker_key_file: Path | None = None
    store_secret: SecretStr | None = None
    store_secret_file: Path | None = None
    state_db: Path = Path("var/omnishelf.db")
    # A cap on the state database's size: past it, writes fail as on a full disk and the
    # controller stops (a supervisor restarts it). None: only the disk limits it.
    state_db_max_mb: Annotated[int | None, Field(ge=1, le=1_000_000)] = None
    locale: str = "tr-TR"
    public_url: str = "http://127.0.0.1:8000"  # where shoppers' QR scans land (/q/...)
    review_url_pattern: str = "https://reviews.example/{store}/{sku}"
    redirect_hosts: tuple[str, ...] = ("reviews.example",)  # the only hosts /q/ redirects to
    # /q/ answers the shoppers' page (price, reviews, other sizes, where in the store;
    # docs/shopper-page.md); False: it redirects to the reviews page, as before the page existed.
    shopper_page: bool = True
    render_workers: Annotated[int, Field(ge=1, le=64)] = max(1, os.cpu_count() or 1)
    # The device session's MQTT work in a process of its own (controller/device_link/), so that
    # it takes a second core; False: in the controller's process (one core does everything).
    device_link_process: bool = True
    max_push_attempts: Annotated[int, Field(ge=1, le=100)] = 6
    # A fitting room's help request nobody acknowledged for this long is escalated, and again
    # after each further period (controller/fitting_rooms.py).
    help_escalate_after_s: Annotated[float, Field(ge=5, le=3600)] = 120.0
    adopt: tuple[str, ...] = ()  # glob patterns of device ids adopted at their first birth
    # Access points may speak for other devices, so they are adopted only explicitly: by an admin
    # or by these patterns (never by `adopt`) at their first birth (controller/gateways.py).
    adopt_access_points: tuple[str, ...] = ()
    http_host: str = "127.0.0.1"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8000

    @model_validator(mode="after")
    def _one_secret_source(self) -> Settings:
        if self.store_secret is not None and self.store_secret_file is not None:
            raise ValueError("set OMNISHELF_STORE_SECRET or OMNISHELF_STORE_SECRET_FILE, not both")
        return self

    def broker_address(self) -> BrokerAddress:
        """The broker URL with its TLS files; a ControllerError if they do not fit together."""
        try:
            return BrokerAddress.parse(
                self.broker_url,
                ca_file=self.broker_ca_file,
                cert_file=self.broker_cert_file,
                key_file=self.broker_key_file,
            )
        except BrokerAccessError as exc:
            raise ControllerError(str(exc)) from exc

    def secret(self) -> str:
        """The store secret, from the environment or its file; an error if neither is set."""
        if self.store_secret is not None:
            return self.store_secret.get_secret_value()
        if self.store_secret_file is None:
            raise ControllerError(
                "no store secret: set OMNISHELF_STORE_SECRET or OMNISHELF_STORE_SECRET_FILE"
            )
        try:
            text = self.store_secret_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ControllerError(
                f"cannot read the store secret file {self.store_secret_file}: {exc.strerror}"
            ) from exc
        if not text:
            raise ControllerError(f"the store secret file {self.store_secret_file} is empty")
        return text
