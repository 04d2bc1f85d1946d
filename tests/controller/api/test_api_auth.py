"""Bearer tokens and roles: who may read, who may write, and revocation."""

from __future__ import annotations

import re

from tests.controller.api.api_kit import Api, item


async def test_unauthenticated_write_is_401_with_bearer_challenge(api: Api) -> None:
    """A write without a token is 401 and names the Bearer scheme (RFC 6750)."""
    answer = await api.client.put("/api/v1/items/TR-1", json=item())
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


async def test_unknown_token_is_401(api: Api) -> None:
    """An unknown token, or another scheme carrying a real token, is refused like none."""
    for header in ["Bearer not-a-token", f"Basic {api.tokens['admin']}"]:
        answer = await api.client.get("/api/v1/items", headers={"Authorization": header})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"


async def test_every_get_under_api_v1_needs_a_token(api: Api) -> None:
    """No GET route under /api/v1 answers anything but 401 without a token."""
    schema = (await api.client.get("/openapi.json")).json()
    paths = [p for p, ops in schema["paths"].items() if "get" in ops and p.startswith("/api/v1")]
    assert len(paths) >= 8
    for path in paths:
        answer = await api.client.get(re.sub(r"\{[^}]+\}", "x", path))
        assert answer.status_code == 401, path


async def test_viewer_reads_but_cannot_write(api: Api) -> None:
    """A viewer token may GET but gets 403 on a write, which changes nothing."""
    assert (await api.client.get("/api/v1/items", headers=api.as_("viewer"))).status_code == 200
    answer = await api.client.put("/api/v1/items/TR-1", json=item(), headers=api.as_("viewer"))
    assert answer.status_code == 403
    assert "staff" in answer.json()["detail"]
    missing = await api.client.get("/api/v1/items/TR-1", headers=api.as_("viewer"))
    assert missing.status_code == 404


async def test_staff_cannot_manage_tokens_or_adopt(api: Api) -> None:
    """Token management and adoption need admin: staff gets 403."""
    staff = api.as_("staff")
    created = await api.client.post(
        "/api/v1/tokens", json={"name": "till-3", "role": "viewer"}, headers=staff
    )
    assert created.status_code == 403
    await api.add_label("lbl-00001", adopt=False)
    assert (
        await api.client.post("/api/v1/devices/lbl-00001/adopt", headers=staff)
    ).status_code == 403


async def test_created_token_works_and_revoking_it_makes_it_401(api: Api) -> None:
    """An admin-created token is returned once, works at its role, and is 401 once revoked."""
    created = await api.client.post(
        "/api/v1/tokens", json={"name": "ayse", "role": "staff"}, headers=api.as_("admin")
    )
    assert created.status_code == 201
    body = created.json()
    assert body["role"] == "staff"
    assert body["created_by"] == "admin"
    ayse = {"Authorization": f"Bearer {body['token']}"}
    put = await api.client.put("/api/v1/items/TR-1", json=item(), headers=ayse)
    assert put.status_code == 200

    revoked = await api.client.delete("/api/v1/tokens/ayse", headers=api.as_("admin"))
    assert revoked.status_code == 204
    after = await api.client.get("/api/v1/items", headers=ayse)
    assert after.status_code == 401
    listed = await api.client.get("/api/v1/tokens", headers=api.as_("admin"))
    assert "token" not in listed.json()[0]
    assert {t["name"]: t["revoked_at"] is not None for t in listed.json()}["ayse"]


async def test_token_create_and_revoke_are_audited(api: Api) -> None:
    """Creating and revoking a token appear in the audit log with the admin as actor."""
    admin = api.as_("admin")
    await api.client.post("/api/v1/tokens", json={"name": "ops", "role": "viewer"}, headers=admin)
    await api.client.delete("/api/v1/tokens/ops", headers=admin)
    entries = await api.audit("token:ops")
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("token.revoke", "admin"),
        ("token.create", "admin"),
    ]
    assert entries[1]["detail"] == {"role": "viewer"}


async def test_token_names_are_never_reused_and_bodies_are_strict(api: Api) -> None:
    """A taken name is 409; an unknown role or an extra field is 422 naming the field."""
    admin = api.as_("admin")
    taken = await api.client.post(
        "/api/v1/tokens", json={"name": "staff", "role": "staff"}, headers=admin
    )
    assert taken.status_code == 409
    bad_role = await api.client.post(
        "/api/v1/tokens", json={"name": "x", "role": "root"}, headers=admin
    )
    assert bad_role.status_code == 422
    assert bad_role.json()["detail"][0]["loc"] == ["body", "role"]
    extra = await api.client.post(
        "/api/v1/tokens", json={"name": "x", "role": "viewer", "admin": True}, headers=admin
    )
    assert extra.status_code == 422
    assert extra.json()["detail"][0]["loc"] == ["body", "admin"]
    missing = await api.client.delete("/api/v1/tokens/nobody", headers=admin)
    assert missing.status_code == 404


async def test_openapi_lists_the_bearer_scheme(api: Api) -> None:
    """/docs serves, and the OpenAPI document declares HTTP bearer auth."""
    assert (await api.client.get("/docs")).status_code == 200
    schema = (await api.client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s == {"type": "http", "scheme": "bearer", **s} for s in schemes.values())
