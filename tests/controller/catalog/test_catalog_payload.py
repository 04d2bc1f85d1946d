"""The JSON boundary: size and depth refused before parsing, and what is sent back always
encodes and stays bounded."""

from __future__ import annotations

import json

import pytest

from controller.catalog.payload import (
    PayloadError,
    bounded,
    load_json,
    nesting_depth,
    safe_json,
    too_deep,
)


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ("5", 0),
        ("[]", 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('["[[[[", "\\"]]]"]', 1),  # brackets inside strings (and escaped quotes) do not count
        ("[" * 10_000 + "]" * 10_000, 10_000),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(text, depth):
    """The pre-scan's depth is the JSON nesting depth, whatever the strings contain."""
    assert nesting_depth(text) == depth


def test_load_json_refuses_size_depth_encoding_and_syntax_with_reasons():
    """Too large, too deep, not UTF-8 and not JSON are each a PayloadError naming the reason."""
    reasons = []
    for payload in (b"x" * 11, b"[" * 40 + b"]" * 40, b"\xff", b"{"):
        with pytest.raises(PayloadError) as caught:
            load_json(payload, max_bytes=100 if len(payload) != 11 else 10, what="body")
        reasons.append(caught.value.reason)
    assert reasons[0] == "body: 11 bytes, at most 10"
    assert reasons[1] == "body: nested 40 deep, at most 32"
    assert reasons[2].startswith("body: not UTF-8")
    assert reasons[3].startswith("body: not JSON")
    assert load_json(b'{"a": [1]}', max_bytes=100) == {"a": [1]}


def test_safe_json_escapes_lone_surrogates_and_bounded_cuts_with_a_marker():
    """A lone surrogate is sent as its \\u escape (valid JSON, encodable), and a long original
    is cut to the limit with a marker saying how long it was."""
    text = safe_json({"name": "\ud800 ə"})
    assert text.encode("utf-8") == '{"name": "\\ud800 ə"}'.encode()
    assert json.loads(text) == {"name": "\ud800 ə"}
    cut = bounded({"changes": ["x" * 10_000]}, limit=100)
    assert isinstance(cut, str)
    assert len(cut) < 140
    assert cut.endswith("[truncated: 10,017 characters]")
    assert bounded({"small": 1}) == {"small": 1}


def test_too_deep_is_exact_where_strings_hold_brackets():
    """Brackets inside strings never make a shallow payload too deep."""
    text = json.dumps(["[" * 100, {"a": "{" * 100}])
    assert too_deep(text) is None
    assert too_deep("[" * 40 + "]" * 40) == 40
