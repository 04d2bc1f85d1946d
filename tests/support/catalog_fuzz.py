"""Hypothesis strategies for catalog inputs as an attacker or a careless integrator sends them:
integers past int64, dates at the calendar's ends and offsets, text with lone surrogates,
controls and bidi overrides, decimals with absurd exponents, nesting and sizes; and the check
that whatever the parsers accept can be stored and shown without an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from controller.catalog.items import MAX_VERSION, CatalogItem
from controller.catalog.labels import StoreContext, label_content
from controller.pipeline.ingest import next_boundary
from label_renderer.batch import RenderJob, render_job

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
CONTEXT = StoreContext("s1", "tr-TR", base_url="https://shop.example")

NASTY_TEXT = ["\ud800", "a\udfffb", "\u202e09,99", "x\x00y", "\u2066", "\x85", " ", "", "İı ə ₺"]
texts = st.one_of(
    st.text(max_size=20), st.sampled_from(NASTY_TEXT), st.text(st.characters(), max_size=250)
)
integers = st.one_of(
    st.integers(-5, 20),
    st.integers(),
    st.integers(MAX_VERSION - 2, 2**64 + 2),
    st.sampled_from([True, False, -1, 2**63, 10**30]),
)
decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(
        ["0.000000000000000000001", "1E+400", "1E-400", "99999999.99", "0.001", "0.0005"]
    ),
    st.sampled_from(["NaN", "-0", "1,5", "12.505", "1e2", "5"]),
    st.floats(),
)
_zones = st.sampled_from([UTC, timezone(timedelta(hours=-14)), timezone(timedelta(hours=14)), None])
moments = st.one_of(
    st.datetimes(timezones=_zones).map(lambda d: d.isoformat()),
    st.sampled_from(
        ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "2026-01-01", "garbage"]
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | integers | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=15,
)
wild_items = st.fixed_dictionaries(
    {
        "sku": st.one_of(st.just("TR-1"), texts),
        "name": texts,
        "currency": st.sampled_from(["TRY", "AZN", "XYZ", 5]),
        "price": decimals,
    },
    optional={
        "version": integers,
        "promotion": st.fixed_dictionaries(
            {"price": decimals, "starts_at": moments},
            optional={"ends_at": moments, "text": texts, "kind": st.sampled_from(["clearance"])},
        ),
        "net_quantity": st.fixed_dictionaries(
            {"value": decimals, "unit": st.sampled_from(["g", "kg", "ml", "cm", "piece", "oz"])}
        ),
        "price_history": st.lists(
            st.fixed_dictionaries({"price": decimals, "valid_from": moments}), max_size=3
        ),
        "stock": st.fixed_dictionaries(
            {}, optional={"quantity": integers, "low_threshold": integers}
        ),
        "reviews": st.fixed_dictionaries({"rating": decimals, "count": integers}),
        "brand": texts,
        "origin": texts,
        "sold_by": st.sampled_from(["item", "kg", "l", "x"]),
        "gtin": st.one_of(texts, st.sampled_from(["8690526081236", "036000291452"])),
        "extra": json_values,
    },
)


VALID = {"sku": "TR-1", "name": "Gofret", "currency": "TRY", "price": "129.90", "version": 3}
_good_moments = st.datetimes(
    min_value=datetime(2001, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds)
    max_value=datetime(2098, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
).map(lambda d: d.isoformat())
_good_prices = st.decimals(min_value="0.01", max_value="99999999.99", places=2).map(str)
_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "version": st.one_of(st.integers(0, 100), st.integers(0, 100), integers),
    "name": st.one_of(
        st.text("abcİışə ₺", min_size=1, max_size=20).map(str.strip).filter(bool), texts
    ),
    "price": st.one_of(_good_prices, _good_prices, decimals),
    "promotion": st.fixed_dictionaries(
        {
            "price": st.one_of(st.just("1.00"), decimals),
            "starts_at": st.one_of(_good_moments, moments),
        },
        optional={"ends_at": st.one_of(_good_moments, moments), "text": texts},
    ),
    "net_quantity": st.fixed_dictionaries(
        {
            "value": st.one_of(
                st.decimals(min_value="0.001", max_value="1000000", places=3).map(str),
                decimals,
            ),
            "unit": st.sampled_from(["g", "kg", "ml", "l", "cm", "m", "piece"]),
        }
    ),
    "sold_by": st.sampled_from(["item", "kg", "l", "m"]),
    "price_history": st.lists(
        st.fixed_dictionaries({"price": _good_prices, "valid_from": _good_moments}),
        max_size=3,
    ),
    "stock": st.fixed_dictionaries({"quantity": st.one_of(st.integers(0, 50), integers)}),
    "reviews": st.fixed_dictionaries(
        {"rating": st.one_of(st.sampled_from(["0", "4.4", "5"]), decimals), "count": integers}
    ),
    "brand": st.one_of(st.just("Eti"), texts),
}
_overrides = st.sets(st.sampled_from(sorted(_FIELDS)), max_size=2).flatmap(
    lambda names: st.fixed_dictionaries({name: _FIELDS[name] for name in names})
)
# mostly a valid item with a few fields fuzzed, so that the stored path is exercised too
items = st.one_of(_overrides.map(lambda changes: VALID | changes), wild_items)


def dumps(value: Any) -> bytes:
    """JSON as an integrator's encoder writes it (lone surrogates as \\uXXXX escapes)."""
    return json.dumps(value, default=str).encode()


nested = st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)
raw_payloads = st.one_of(st.binary(max_size=200), nested)


def assert_showable(item: CatalogItem) -> None:
    """What the parsers accepted can be stored (encodes, fits SQLite) and shown (its promotion
    boundaries, its label content at any time it is relevant, and its render) without raising."""
    item.model_dump_json().encode("utf-8")
    assert item.version is None or 0 <= item.version <= MAX_VERSION
    moments = [T0]
    if item.promotion is not None:
        moments += [t for t in (item.promotion.starts_at, item.promotion.ends_at) if t]
    for moment in moments:
        boundary = next_boundary(item, moment - timedelta(seconds=1))
        if boundary is not None:
            boundary.astimezone(UTC).isoformat()
        content = label_content(item, CONTEXT, moment)
        render_job(RenderJob("lbl-1", content, "epd290-bwr"))  # ok, or an error it reports
