"""API tokens (admin): issue (the secret is in this one response only), list, revoke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from slipway.api.auth import Role
from slipway.api.deps import Admin, Context, Viewer
from slipway.api.pagination import PageOf, Paging, paginate
from slipway.core.errors import InvalidInput
from slipway.store.audit import now_ms
from slipway.store.tokens import ApiToken

router = APIRouter(tags=["tokens"])
DAY_MS = 86_400_000
TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="The token's public id.")]


class TokenOut(BaseModel):
    token_id: str
    owner: str
    role: Role
    description: str
    created_at: int
    created_by: str
    expires_at: int | None
    revoked_at: int | None
    active: bool

    @classmethod
    def of(cls, t: ApiToken) -> TokenOut:
        return cls(
            token_id=t.token_id,
            owner=t.owner,
            role=Role(t.role),
            description=t.description,
            created_at=t.created_at,
            created_by=t.created_by,
            expires_at=t.expires_at,
            revoked_at=t.revoked_at,
            active=t.is_active(now_ms()),
        )


class TokenPage(PageOf):
    items: list[TokenOut]


class CreateToken(BaseModel):
    owner: str = Field(min_length=1, max_length=255, description="Whose token (audit actor).")
    role: Role
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)
    expires_at: datetime | None = Field(
        default=None, description="Absolute expiry (ISO 8601); not with expires_in_days."
    )
    description: str = Field(default="", max_length=1000)


class IssuedTokenOut(BaseModel):
    token: TokenOut
    secret: str = Field(description="The token to send as `Bearer`; shown only this once.")


class WhoAmI(BaseModel):
    owner: str
    role: Role
    token_id: str | None
    anonymous: bool


def expiry_ms(expires_in_days: float | None, expires_at: datetime | None) -> int | None:
    if expires_in_days is not None and expires_at is not None:
        raise InvalidInput("give expires_in_days or expires_at, not both")
    if expires_in_days is not None:
        return now_ms() + int(expires_in_days * DAY_MS)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires_at needs a time zone, e.g. 2030-01-01T00:00:00Z")
        return int(expires_at.timestamp() * 1000)
    return None


@router.get("/whoami", response_model=WhoAmI, summary="The caller's identity and role")
def whoami(principal: Viewer) -> WhoAmI:
    return WhoAmI(
        owner=principal.owner,
        role=principal.role,
        token_id=principal.token_id,
        anonymous=principal.is_anonymous,
    )


@router.post("/tokens", response_model=IssuedTokenOut, status_code=201, summary="Issue a token")
def create_token(body: CreateToken, principal: Admin, ctx: Context) -> IssuedTokenOut:
    issued = ctx.workspace.store.tokens.create(
        body.owner,
        body.role.value,
        expires_at=expiry_ms(body.expires_in_days, body.expires_at),
        description=body.description,
        actor=principal.owner,
    )
    return IssuedTokenOut(token=TokenOut.of(issued.token), secret=issued.secret)


@router.get("/tokens", response_model=TokenPage, summary="List tokens (never their secrets)")
def list_tokens(
    principal: Admin,
    ctx: Context,
    page: Paging,
    owner: Annotated[str | None, Query(max_length=255)] = None,
    role: Role | None = None,
    active: Annotated[bool | None, Query(description="Only active (or inactive) ones.")] = None,
) -> TokenPage:
    now = now_ms()
    tokens = [
        t
        for t in ctx.workspace.store.tokens.list(owner=owner)
        if (role is None or t.role == role.value) and (active is None or t.is_active(now) == active)
    ]
    items, token = paginate(
        tokens,
        page,
        {
            "created_at": lambda t: t.created_at,
            "owner": lambda t: t.owner,
            "role": lambda t: Role(t.role).rank,
            "expires_at": lambda t: t.expires_at,
        },
        "created_at",
    )
    return TokenPage(items=[TokenOut.of(t) for t in items], next_page_token=token)


@router.get("/tokens/{token_id}", response_model=TokenOut, summary="One token")
def get_token(token_id: TokenId, principal: Admin, ctx: Context) -> TokenOut:
    return TokenOut.of(ctx.workspace.store.tokens.get(token_id))


@router.delete("/tokens/{token_id}", response_model=TokenOut, summary="Revoke a token")
def revoke_token(token_id: TokenId, principal: Admin, ctx: Context) -> TokenOut:
    return TokenOut.of(ctx.workspace.store.tokens.revoke(token_id, actor=principal.owner))
