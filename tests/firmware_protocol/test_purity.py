"""The protocol package is sans-IO: it imports no network, process or event-loop library.

A device firmware and the controller share this codec; the moment it imports asyncio or an MQTT
client it stops being portable and testable byte for byte.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import firmware_protocol

PACKAGE_DIR = Path(firmware_protocol.__file__).parent
REPO_ROOT = PACKAGE_DIR.parent

FORBIDDEN = frozenset(
    {
        "asyncio",
        "socket",
        "ssl",
        "selectors",
        "aiomqtt",
        "paho",
        "http",
        "urllib",
        "requests",
        "httpx",
        "subprocess",
        "threading",
        "multiprocessing",
    }
)

# Every stdlib module the codec may use, and why: none of them opens a file, socket or thread.
ALLOWED_STDLIB = frozenset(
    {
        "__future__",  # postponed annotations
        "collections",  # collections.abc types for annotations
        "dataclasses",  # the frozen message classes
        "enum",  # opcodes and field enums
        "hashlib",  # SHA-256 content hashes and firmware digests
        "re",  # id syntax of topics
        "struct",  # big-endian field packing
        "typing",  # Annotated layouts, Final, ClassVar
        "zlib",  # CRC-32 of frames and payloads, image compression
    }
)


def _imported_top_level_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                names.add("firmware_protocol")  # a relative import stays inside the package
            elif node.module is not None:
                names.add(node.module.split(".")[0])
    return names


def _dynamic_imports(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name | ast.Attribute)
        and (getattr(node.func, "id", None) or getattr(node.func, "attr", None))
        in {"__import__", "import_module"}
    ]


SOURCES = sorted(PACKAGE_DIR.rglob("*.py"))


def test_the_package_has_sources_to_check() -> None:
    """The walk finds the codec's modules, so the import checks below are not vacuous."""
    names = {p.name for p in SOURCES}
    assert {"codec.py", "wire.py", "messages.py", "transfer.py", "topics.py"} <= names


def test_allowlist_is_stdlib_only() -> None:
    """Every module the allowlist admits is part of the standard library and none is forbidden."""
    assert set(ALLOWED_STDLIB) <= sys.stdlib_module_names
    assert not ALLOWED_STDLIB & FORBIDDEN


def test_no_module_imports_an_io_library() -> None:
    """No source file imports a forbidden I/O module or anything beyond the stdlib allowlist."""
    found: dict[str, set[str]] = {}
    for path in SOURCES:
        for name in _imported_top_level_modules(path):
            found.setdefault(name, set()).add(path.name)
    forbidden = {name: files for name, files in found.items() if name in FORBIDDEN}
    assert not forbidden, f"I/O imports in the protocol package: {forbidden}"
    unexpected = {
        name: files
        for name, files in found.items()
        if name not in ALLOWED_STDLIB and name != "firmware_protocol"
    }
    assert not unexpected, f"imports outside the stdlib allowlist: {unexpected}"


def test_no_module_imports_dynamically() -> None:
    """No source file calls __import__ or importlib.import_module, which the AST walk can't see."""
    calls = {p.name: lines for p in SOURCES if (lines := _dynamic_imports(p))}
    assert not calls


def test_importing_the_package_loads_no_io_module() -> None:
    """A fresh interpreter importing every protocol module has no I/O library in sys.modules."""
    modules = sorted(
        "firmware_protocol." + p.stem
        for p in SOURCES
        if p.stem != "__init__" and p.parent == PACKAGE_DIR
    )
    script = (
        f"import sys\nfor name in {modules!r}: __import__(name)\nprint(repr(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=60,
    )
    loaded = set(ast.literal_eval(result.stdout))
    assert set(modules) <= loaded
    assert "firmware_protocol" in loaded
    leaked = {m for m in loaded if m.split(".")[0] in FORBIDDEN}
    assert not leaked, sorted(leaked)
