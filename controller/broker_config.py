"""The runtime files of a store broker, rendered from the shipped deploy/mosquitto/.

`deploy/mosquitto/acl` is a template with `{store}`: rendered once per store the broker serves
(a store's broker serves one; the tests' shared broker many). `mosquitto.conf` loads the limits
plugin (controller/limits_plugin.py), names the listeners, the files and the persistence
directory, then includes `conf.d/`. Every listener binds
the client id to the username (`use_username_as_clientid` is a per-listener option in Mosquitto
2.0): a client cannot take over another's session by connecting under its client id.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from broker_access.credentials import check_device_id
from firmware_protocol.topics import check_id

DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"
ACL_TEMPLATE = DEPLOY_DIR / "acl"
# Per-role limits of the limits plugin (deploy/mosquitto/plugin/omnishelf_limits.c) for devices
# and access points: a device's largest message is a few hundred bytes (a chunk request, a
# report), its retained state documents (birth, death, reported) under 200 bytes.
DEVICE_MAX_PAYLOAD = 65536
DEVICE_MAX_RETAINED = 4096


@dataclass(frozen=True, slots=True)
class TlsListener:
    """A TLS listener: the broker's certificate and key, the CA its clients' certificates are
    checked against, and whether a client must present one."""

    port: int
    ca_file: Path
    cert_file: Path
    key_file: Path
    require_certificate: bool = False
    host: str = "127.0.0.1"


def render_acl(stores: Iterable[str]) -> str:
    template = ACL_TEMPLATE.read_text(encoding="utf-8")
    blocks = [template.replace("{store}", check_id(store, "store id")) for store in sorted(stores)]
    return "\n".join(blocks)


def render_conf(
    *,
    host: str,
    port: int | None,
    workdir: Path,
    password_file: Path,
    acl_file: Path,
    log_file: Path,
    limits_plugin: Path,
    tls: TlsListener | None = None,
) -> str:
    """mosquitto.conf for a broker whose private files live in `workdir`; `port` None: no plain
    listener (TLS only). The limits plugin's options are in conf.d/omnishelf.conf."""
    lines: list[str] = [
        f"plugin {limits_plugin}",
        f"plugin_opt_device_max_payload {DEVICE_MAX_PAYLOAD}",
        f"plugin_opt_device_max_retained {DEVICE_MAX_RETAINED}",
    ]
    if port is not None:
        lines += [f"listener {port} {host}", "use_username_as_clientid true"]
    if tls is not None:
        lines += [
            f"listener {tls.port} {tls.host}",
            "use_username_as_clientid true",
            f"cafile {tls.ca_file}",
            f"certfile {tls.cert_file}",
            f"keyfile {tls.key_file}",
            "tls_version tlsv1.2",
            f"require_certificate {'true' if tls.require_certificate else 'false'}",
        ]
    lines += [
        f"password_file {password_file}",
        f"acl_file {acl_file}",
        # persistence itself is switched on in conf.d/omnishelf.conf; where is up to the starter
        f"persistence_location {workdir}/",
        # Stay the user who started it: the work dir and password file are private.
        f"user {getpass.getuser()}",
        f"log_dest file {log_file}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        f"include_dir {DEPLOY_DIR / 'conf.d'}",
        "",
    ]
    return "\n".join(lines)


def device_ids(ids: Iterable[str]) -> set[str]:
    """The ids checked as provisionable devices (no service account's name)."""
    return {check_device_id(device_id) for device_id in ids}
