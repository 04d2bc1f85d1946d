"""Property-based fuzzing of the REST item routes (issue 12) over the real HTTP stack and SQLite:
whatever a staff token sends to PUT /items/{sku} or POST /items/batch, the answer is never a
server error, and what is stored can be read back and shown."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from controller.state.catalog_repo import get_item
from tests.controller.api.api_kit import Api
from tests.support.catalog_fuzz import FUZZ, assert_showable, dumps, integers, items, raw_payloads

ANSWERS = {200, 413, 422, 429}  # 413 and 429: the edge's body and rate limits


def _headers(api: Api) -> dict[str, str]:
    return api.as_("staff") | {"content-type": "application/json"}


@FUZZ
@given(body=st.one_of(items.map(dumps), raw_payloads))
async def test_put_item_never_answers_5xx(api: Api, body: bytes) -> None:
    """A fuzzed PUT is 200 or a bounded 422; an item it stored can be shown."""
    answer = await api.client.put("/api/v1/items/TR-1", content=body, headers=_headers(api))
    assert answer.status_code in ANSWERS, (answer.status_code, answer.text[:500])
    assert len(answer.content) < 64_000
    if answer.status_code == 200:
        stored = await get_item(api.controller.conn, "TR-1")
        assert stored is not None
        assert_showable(stored)


changes = st.lists(
    st.one_of(
        items.map(lambda i: {"op": "upsert", "item": i}),
        integers.map(lambda v: {"op": "delete", "sku": "TR-1", "version": v}),
        st.sampled_from([{"op": "rename"}, "x", None, []]),
    ),
    max_size=5,
)


@FUZZ
@given(body=st.one_of(changes.map(lambda c: dumps({"batch_id": "b", "changes": c})), raw_payloads))
async def test_post_batch_never_answers_5xx(api: Api, body: bytes) -> None:
    """A fuzzed batch is 200 with a verdict per change, or a bounded 422."""
    answer = await api.client.post("/api/v1/items/batch", content=body, headers=_headers(api))
    assert answer.status_code in ANSWERS, (answer.status_code, answer.text[:500])
    if answer.status_code == 200:
        outcome = answer.json()
        assert outcome["stored"] + outcome["rejected"] == len(outcome["results"])
