"""Build the broker's per-role limits plugin (deploy/mosquitto/plugin/omnishelf_limits.c).

Mosquitto loads plugins as shared objects, so the C source is compiled once per version of it
into a per-user cache (`~/.cache/omnishelf/`, named after the source's hash) and reused by every
broker started after. Building needs a C compiler and Mosquitto's plugin headers (Debian:
gcc, mosquitto-dev, libmosquitto-dev; `make setup` installs them).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from controller.errors import ControllerError

SOURCE = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto" / "plugin"
SOURCE_FILE = SOURCE / "omnishelf_limits.c"
HEADERS = (Path("/usr/include/mosquitto_broker.h"), Path("/usr/include/mosquitto.h"))


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "omnishelf"


def limits_plugin() -> Path:
    """The compiled plugin, built now if this version of the source was never built."""
    source = SOURCE_FILE.read_bytes()
    built = cache_dir() / f"omnishelf_limits-{hashlib.sha256(source).hexdigest()[:16]}.so"
    if built.exists():
        return built
    compiler = shutil.which("cc") or shutil.which("gcc")
    missing = [str(h) for h in HEADERS if not h.exists()]
    if compiler is None or missing:
        raise ControllerError(
            "cannot build the broker's limits plugin: needs a C compiler and Mosquitto's "
            f"plugin headers (missing: {', '.join(missing) or 'cc'}); make setup installs "
            "gcc, mosquitto-dev and libmosquitto-dev"
        )
    built.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and rename: brokers started in parallel never load a half file.
    with tempfile.TemporaryDirectory(dir=built.parent) as tmp:
        out = Path(tmp) / built.name
        result = subprocess.run(  # noqa: S603 - the compiler on our own source
            [compiler, "-shared", "-fPIC", "-O2", "-Wall", "-o", str(out), str(SOURCE_FILE)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ControllerError(f"building {SOURCE_FILE.name} failed: {result.stderr.strip()}")
        out.replace(built)
    return built
