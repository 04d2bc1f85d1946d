"""Property-based fuzzing of the catalog boundaries (issue 12): the feed parser and the importer
never raise, and every change they accept can be stored and shown."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.catalog.feed import Rejection, Upsert, parse_catalog_message
from controller.catalog.importer import ImportFileError, open_import
from controller.catalog.payload import safe_json
from tests.support.catalog_fuzz import (
    FUZZ,
    assert_showable,
    dumps,
    integers,
    items,
    raw_payloads,
)

STORE = "s1"
PREFIX = f"omnishelf/{STORE}/catalog/"


def _check(changes: Any, rejected: tuple[Rejection, ...], topic: str) -> None:
    for change in changes:
        if isinstance(change, Upsert):
            assert_showable(change.item)
    for rejection in rejected:
        assert rejection.reason
        letter = rejection.dead_letter(topic)
        assert len(letter) < 20_000
        json.loads(letter.decode("utf-8"))


single = st.one_of(
    st.tuples(st.just("item/TR-1"), items.map(dumps)),
    st.tuples(st.just("delete/TR-1"), integers.map(lambda v: dumps({"version": v}))),
    st.tuples(st.sampled_from(["item/TR-1", "delete/TR-1", "batch", "nope/x"]), raw_payloads),
)
batches = st.lists(
    st.one_of(
        items.map(lambda i: {"op": "upsert", "item": i}),
        integers.map(lambda v: {"op": "delete", "sku": "TR-2", "version": v}),
        st.sampled_from([{"op": "rename"}, "x", None, []]),
    ),
    max_size=5,
).map(lambda changes: ("batch", dumps({"batch_id": "b", "changes": changes})))


@FUZZ
@given(st.one_of(single, batches))
def test_feed_parser_never_raises_and_accepts_only_what_can_be_shown(message):
    """Any message yields stored changes or rejections with reasons; accepted items are
    storable and renderable, dead letters encode and stay bounded."""
    topic, payload = message
    parsed = parse_catalog_message(STORE, PREFIX + topic, payload)
    assert len(parsed.changes) + len(parsed.rejected) >= 1 or topic == "batch"
    _check(parsed.changes, parsed.rejected, PREFIX + topic)
    safe_json(parsed.subject).encode("utf-8")  # the receipt's naming part encodes


@FUZZ
@given(st.lists(items, max_size=4), st.booleans())
def test_importer_never_raises_on_any_row(rows, as_csv):
    """A file of fuzzed rows (JSON, or CSV cells) gives one verdict per row, never an
    exception other than the documented whole-file errors."""
    with tempfile.TemporaryDirectory() as folder:
        if as_csv:
            path = Path(folder) / "items.csv"
            columns = ["sku", "version", "name", "currency", "price", "promo_price", "promo_start"]
            lines = [",".join(columns)]
            for row in rows:
                promo = row.get("promotion") or {}
                cells = [row.get("sku"), row.get("version"), row.get("name"), row.get("currency")]
                cells += [row.get("price"), promo.get("price"), promo.get("starts_at")]
                lines.append(",".join(json.dumps(str(c)) if c is not None else "" for c in cells))
            path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass"))
        else:
            path = Path(folder) / "items.json"
            path.write_bytes(dumps(rows))
        try:
            source = open_import(path)
        except ImportFileError:
            return  # a file-wide error: reported, nothing stored
        verdicts = list(source.rows())
        assert len(verdicts) == source.total
        rejected = tuple(v for v in verdicts if isinstance(v, Rejection))
        _check([v for v in verdicts if not isinstance(v, Rejection)], rejected, str(path))
