"""API tokens: an admin creates one (its secret is shown in this answer only) or revokes one.
Both are in the audit log; a revoked token's name is never reused, so the log stays unambiguous."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from controller.api.deps import Admin, ControllerDep
from controller.state.audit_repo import append_audit
from controller.state.database import transaction
from controller.state.tokens_repo import (
    NAME_PATTERN,
    ApiToken,
    Role,
    create_token,
    list_tokens,
    revoke_token,
)

router = APIRouter(prefix="/tokens", tags=["tokens"])


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(pattern=NAME_PATTERN, description="who uses it: the audit actor")]
    role: Role


class TokenView(BaseModel):
    name: str
    role: Role
    created_at: datetime
    created_by: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, token: ApiToken) -> TokenView:
        return cls(
            name=token.name,
            role=token.role,
            created_at=token.created_at,
            created_by=token.created_by,
            revoked_at=token.revoked_at,
        )


class CreatedToken(TokenView):
    token: str  # the secret: shown once, only its hash is stored


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a token (admin)")
async def create(body: NewToken, controller: ControllerDep, caller: Admin) -> CreatedToken:
    now = controller.clock()
    async with transaction(controller.conn):
        token, secret = await create_token(
            controller.conn, body.name, body.role, at=now, created_by=caller.name
        )
        await append_audit(
            controller.conn,
            at=now,
            actor=caller.name,
            action="token.create",
            target=f"token:{body.name}",
            detail={"role": body.role.value},
        )
    return CreatedToken(**TokenView.of(token).model_dump(), token=secret)


@router.get("", summary="Every token, revoked ones included (admin)")
async def tokens(controller: ControllerDep, _: Admin) -> list[TokenView]:
    return [TokenView.of(t) for t in await list_tokens(controller.conn)]


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke a token (admin)")
async def revoke(name: str, controller: ControllerDep, caller: Admin) -> None:
    now = controller.clock()
    async with transaction(controller.conn):
        if not await revoke_token(controller.conn, name, at=now):
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no active token {name!r}")
        await append_audit(
            controller.conn,
            at=now,
            actor=caller.name,
            action="token.revoke",
            target=f"token:{name}",
        )
