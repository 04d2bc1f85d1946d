"""The HTTP edge (issue 12, finding 5): body limits before parsing, authentication before the
body, validation errors without the input, bounded offsets, security headers, rate limits and
the audit of failures. All over the real ASGI app with its lifespan entered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from controller.api.rate_limits import EdgeLimits, Rate
from controller.settings import Settings
from tests.controller.api.api_kit import Api, item, open_api

MIB = 1 << 20
NEVER = 1e-6  # a refill rate that gives nothing back within a test


@dataclass
class CountedBody:
    """A request body of `chunks` chunks of `size` bytes that counts how many were pulled."""

    chunks: int
    size: int = MIB
    pulled: int = 0

    async def stream(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b" " * self.size


async def test_finding_5_unauthenticated_body_is_never_read(api: Api) -> None:
    """A 50 MB PUT without a token is 401 before a single chunk of its body is read."""
    body = CountedBody(50)
    answer = await api.client.put(
        "/api/v1/items/TR-1",
        content=body.stream(),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert body.pulled == 0


async def test_finding_5_declared_oversize_body_is_413_unread(api: Api) -> None:
    """A staff PUT declaring 50 MB is 413 at once: its body is never read."""
    body = CountedBody(50)
    answer = await api.client.put(
        "/api/v1/items/TR-1",
        content=body.stream(),
        headers=api.as_("staff")
        | {"Content-Type": "application/json", "Content-Length": str(50 * MIB)},
    )
    assert answer.status_code == 413
    assert body.pulled == 0


async def test_finding_5_chunked_body_is_cut_off_past_the_limit(api: Api) -> None:
    """A body without a length is counted as it is read and refused just past 1 MiB."""
    body = CountedBody(50, size=256 * 1024)
    answer = await api.client.put(
        "/api/v1/items/TR-1",
        content=body.stream(),
        headers=api.as_("staff") | {"Content-Type": "application/json"},
    )
    assert answer.status_code == 413
    assert "limit" in answer.json()["detail"]
    assert body.pulled <= 5


async def test_a_batch_may_be_larger_than_other_bodies(settings: Settings) -> None:
    """The batch route has its own, larger limit; every other route keeps the small one."""
    limits = EdgeLimits(body_bytes=16 * 1024, batch_body_bytes=MIB)
    async with open_api(settings, limits=limits) as api:
        changes = [{"op": "upsert", "item": item(f"TR-{n}")} for n in range(300)]
        batch = await api.client.post(
            "/api/v1/items/batch", json={"changes": changes}, headers=api.as_("staff")
        )
        assert batch.status_code == 200, batch.text
        big = await api.client.put(
            "/api/v1/items/TR-1", json=item(name="x" * 20_000), headers=api.as_("staff")
        )
        assert big.status_code == 413


async def test_finding_5_validation_error_does_not_echo_the_input(api: Api) -> None:
    """A 422 names the field and the reason, never the (here 200 KB) input."""
    await api.add_label("lbl-00001")
    answer = await api.client.post(
        "/api/v1/labels/lbl-00001/page", json={"page": "7" * 200_000}, headers=api.as_("staff")
    )
    assert answer.status_code == 422
    [problem] = answer.json()["detail"]
    assert problem["loc"] == ["body", "page"]
    assert set(problem) == {"loc", "msg", "type"}
    assert len(answer.content) < 1000


async def test_finding_5_huge_offsets_are_422_never_500(api: Api) -> None:
    """Offsets past 10^9 (2^63 made SQLite overflow: 500) are refused as invalid."""
    viewer = api.as_("viewer")
    for path in ("/api/v1/devices", "/api/v1/items"):
        for offset in (2**63, 10**9 + 1):
            answer = await api.client.get(path, params={"offset": offset}, headers=viewer)
            assert answer.status_code == 422, (path, offset, answer.text)
        fine = await api.client.get(path, params={"offset": 10**9}, headers=viewer)
        assert fine.status_code == 200


async def test_finding_5_security_headers_on_pages_and_the_api(api: Api) -> None:
    """The console's CSP and framing headers are sent on its pages, and on API answers."""
    page = await api.client.get("/login")
    assert page.status_code == 200
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "same-origin"
    assert page.headers["cache-control"] == "no-store"
    answer = await api.client.get("/api/v1/items", headers=api.as_("viewer"))
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    refused = await api.client.get("/api/v1/items")
    assert refused.headers["x-content-type-options"] == "nosniff"


async def test_finding_5_token_guessing_is_throttled_and_audited(settings: Settings) -> None:
    """Wrong tokens from one address: 401 and an audit entry each, then 429 with Retry-After,
    even for a right token from that address, until the failures age out."""
    limits = EdgeLimits(auth_failures_per_address=Rate(per_s=NEVER, burst=5))
    async with open_api(settings, limits=limits) as api:
        guesses = [
            await api.client.get("/api/v1/items", headers={"Authorization": f"Bearer guess-{n}"})
            for n in range(8)
        ]
        assert [g.status_code for g in guesses] == [401] * 5 + [429] * 3
        assert int(guesses[-1].headers["retry-after"]) > 0
        right = await api.client.get("/api/v1/items", headers=api.as_("viewer"))
        assert right.status_code == 429
        conn = api.controller.conn
        async with conn.execute(
            "SELECT actor, target FROM audit_log WHERE action = 'auth.failed'"
        ) as cursor:
            rows = [tuple(row) for row in await cursor.fetchall()]
        assert rows == [("anonymous", "client:127.0.0.1")] * 5


async def test_a_flood_of_failures_writes_a_bounded_audit(settings: Settings) -> None:
    """Past the audit's own rate, failures are counted, not written: 300 wrong tokens from
    many addresses leave 3 rows, and the next row written says how many were left out."""
    limits = EdgeLimits(denial_audits=Rate(per_s=NEVER, burst=3))
    async with open_api(settings, limits=limits) as api:
        for n in range(300):
            answer = await api.client.get(
                "/api/v1/items", headers={"Authorization": f"Bearer guess-{n}"}
            )
            assert answer.status_code in {401, 429}
        async with api.controller.conn.execute(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.failed'"
        ) as cursor:
            row = await cursor.fetchone()
        assert row is not None
        assert row[0] == 3


async def test_a_role_denial_is_audited(api: Api) -> None:
    """A viewer's write is 403 and leaves an `auth.denied` entry naming the token."""
    answer = await api.client.put("/api/v1/items/TR-1", json=item(), headers=api.as_("viewer"))
    assert answer.status_code == 403
    [entry] = await api.audit("client:127.0.0.1")
    assert entry["action"] == "auth.denied"
    assert entry["actor"] == "viewer"
    assert entry["detail"]["path"] == "/api/v1/items/TR-1"


async def test_finding_5_scans_are_rate_limited(settings: Settings) -> None:
    """QR scans from one address past the limit are 429 and not written."""
    limits = EdgeLimits(scans_per_address=Rate(per_s=NEVER, burst=5))
    async with open_api(settings, limits=limits) as api:
        put = await api.client.put("/api/v1/items/TR-1", json=item(), headers=api.as_("staff"))
        assert put.status_code == 200
        codes = [
            (await api.client.get(f"/q/{settings.store_id}/TR-1")).status_code for _ in range(8)
        ]
        assert codes == [200] * 5 + [429] * 3
        async with api.controller.conn.execute("SELECT COUNT(*) FROM scans") as cursor:
            row = await cursor.fetchone()
        assert row is not None
        assert row[0] == 5


async def test_requests_per_token_are_rate_limited(settings: Settings) -> None:
    """One token's requests past its rate are 429 with Retry-After; another token goes on."""
    limits = EdgeLimits(api_per_token=Rate(per_s=NEVER, burst=3))
    async with open_api(settings, limits=limits) as api:
        codes = [
            (await api.client.get("/api/v1/items", headers=api.as_("viewer"))).status_code
            for _ in range(5)
        ]
        assert codes == [200] * 3 + [429] * 2
        other = await api.client.get("/api/v1/items", headers=api.as_("staff"))
        assert other.status_code == 200
