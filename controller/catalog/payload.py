"""JSON at the catalog's boundary: size and nesting checked before parsing, and JSON sent back
(dead letters, receipts, error answers) that always encodes and stays small.

`json.loads` recurses once per nesting level, so a 200,000-deep array (400 KB) ends in a
RecursionError, and a 30 MB item is parsed in full before anything can say it is too large. The
checks here run first and cost one regular-expression pass: strings are skipped (a bracket
inside a name does not count) and only the brackets outside them are counted.

What goes back to HQ may quote what it sent, which can hold lone surrogates (`"\\ud800"` is valid
JSON, but not encodable as UTF-8) and can be megabytes long: `safe_json` escapes such
surrogates, and `bounded` cuts a quoted original to a few kilobytes with a marker.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from itertools import accumulate
from typing import Any

from controller.errors import ControllerError

MAX_DEPTH = 32  # an item in a batch nests 6 deep (batch, changes, change, item, history, point)
MAX_ORIGINAL_CHARS = 4096  # of a rejected change quoted back in a dead letter or an answer

# A JSON string, skipped whole (possessive: no backtracking into a megabyte-long string).
_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class PayloadError(ControllerError):
    """A payload refused before parsing: too large, too deep, not UTF-8 or not JSON."""

    def __init__(self, reason: str, original: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.original = original  # what to quote back (bounded by the caller)


MAX_INT_DIGITS = 100  # far above any field's bound (versions are int64: 19 digits)


def bounded_int(digits: str) -> int | float:
    """`parse_int` for json.loads: an integer literal of more than MAX_INT_DIGITS digits becomes
    infinity, which every field refuses with its own name ("must be a finite number", "a valid
    integer"...). Python refuses to convert more than 4,300 digits (a ValueError out of
    json.loads: a 500 over HTTP and a traceback in an import), and a batch's other changes must
    not be lost to one absurd number."""
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        return float("-inf") if digits.startswith("-") else float("inf")
    return int(digits)


def _depth(brackets: str) -> int:
    return max(accumulate(map(_STEP.__getitem__, _NOT_BRACKET.sub("", brackets))), default=0)


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text` (0 for a scalar), without parsing it."""
    return _depth(_STRING.sub("", text))


def too_deep(text: str, limit: int = MAX_DEPTH) -> int | None:
    """The nesting depth of `text` if it is over `limit`, else None.

    Counting every bracket is 4x cheaper than skipping strings first, and brackets inside
    strings can only add to it: only a text that seems too deep is counted again, exactly."""
    if _depth(text) <= limit:
        return None
    depth = nesting_depth(text)
    return depth if depth > limit else None


def load_json(
    payload: bytes, *, max_bytes: int, what: str = "payload", decimals: bool = False
) -> Any:
    """`payload` parsed as JSON (numbers with a fraction as Decimal if `decimals`), after the
    size and nesting checks; raises PayloadError naming `what` and the reason."""
    if len(payload) > max_bytes:
        raise PayloadError(f"{what}: {len(payload):,} bytes, at most {max_bytes:,}", payload)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError(
            f"{what}: not UTF-8 ({exc.reason} at byte {exc.start})", payload.hex()
        ) from exc
    depth = too_deep(text)
    if depth is not None:
        raise PayloadError(f"{what}: nested {depth} deep, at most {MAX_DEPTH}", text)
    try:
        return json.loads(text, parse_float=Decimal if decimals else float, parse_int=bounded_int)
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"{what}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", text
        ) from exc


def _escape_surrogates(text: str) -> str:
    # Lone surrogates only occur inside JSON strings here, where "\udXXX" is a valid escape.
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def safe_json(value: Any) -> str:
    """`value` as JSON text that always encodes as UTF-8 (lone surrogates escaped; Decimals and
    anything else JSON has no type for as strings)."""
    return _escape_surrogates(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def safe_text(text: str, limit: int = MAX_ORIGINAL_CHARS) -> str:
    """`text` for a log line, a reason or an answer: lone surrogates escaped, at most `limit`
    characters (a marker says how much was cut)."""
    clean = _escape_surrogates(text)
    if len(clean) <= limit:
        return clean
    return f"{clean[:limit]}…[truncated: {len(clean):,} characters]"


def bounded(original: Any, limit: int = MAX_ORIGINAL_CHARS) -> Any:
    """A quotable copy of `original`: itself if its JSON is at most `limit` characters, else the
    start of its JSON text as a string, ending with a truncation marker."""
    if isinstance(original, bytes | bytearray):
        head = bytes(original[:limit]).decode("utf-8", "replace")
        if len(original) <= limit:
            return safe_text(head, limit)
        return f"{safe_text(head, limit)}…[truncated: {len(original):,} bytes]"
    if isinstance(original, str):
        return safe_text(original, limit)
    try:
        text = safe_json(original)
    except (ValueError, TypeError, RecursionError):  # a circular or exotic value: its repr
        return safe_text(repr(original)[: limit * 2], limit)
    return original if len(text) <= limit else safe_text(text, limit)
