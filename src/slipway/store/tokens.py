"""API tokens: issued once, stored as a sha256 of the secret, expired or revoked by time.

A token reads ``slw_<token_id>_<secret>``. The id is its public half (listed, named in audit
events and messages); the secret has 256 random bits, so a plain sha256 is as strong as a
slow hash would be, and checking a token is one primary-key read and one constant-time
comparison. Roles are plain strings here: what they allow is the API's business.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update

from slipway.core.errors import InvalidInput, NotFound, Unauthenticated
from slipway.core.names import check_name
from slipway.store.audit import now_ms, record
from slipway.store.engine import read_transaction, write_transaction
from slipway.store.schema import api_tokens

PREFIX = "slw"
_ID_BYTES = 8  # 16 hex characters
_SECRET_BYTES = 32
_REFUSED = "invalid API token"


@dataclass(frozen=True, slots=True)
class ApiToken:
    """A token as it is listed: everything but its secret."""

    token_id: str
    owner: str
    role: str
    description: str
    created_at: int
    created_by: str
    expires_at: int | None
    revoked_at: int | None

    def is_active(self, at_ms: int) -> bool:
        return self.revoked_at is None and (self.expires_at is None or at_ms < self.expires_at)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: ApiToken
    secret: str
    """The full ``slw_<id>_<secret>`` string: shown once, never stored."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_id_of(secret: str) -> str | None:
    """The id inside a well-formed token string, else None."""
    prefix, _, rest = secret.partition("_")
    token_id, _, tail = rest.partition("_")
    if prefix != PREFIX or len(token_id) != 2 * _ID_BYTES or not tail:
        return None
    try:
        int(token_id, 16)
    except ValueError:
        return None
    return token_id


class TokenRepository:
    def __init__(self, engine: Engine, actor: str) -> None:
        self._engine = engine
        self._actor = actor

    def create(
        self,
        owner: str,
        role: str,
        *,
        expires_at: int | None = None,
        description: str = "",
        actor: str | None = None,
    ) -> IssuedToken:
        """Issue a token for ``owner``; the returned secret is the only copy there will be."""
        check_name("owner", owner)
        created = now_ms()
        if expires_at is not None and expires_at <= created:
            raise InvalidInput("token expiry must be in the future")
        token_id = secrets.token_hex(_ID_BYTES)
        secret = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(_SECRET_BYTES)}"
        token = ApiToken(
            token_id=token_id,
            owner=owner,
            role=role,
            description=description,
            created_at=created,
            created_by=actor or self._actor,
            expires_at=expires_at,
            revoked_at=None,
        )
        with write_transaction(self._engine) as conn:
            conn.execute(
                insert(api_tokens).values(
                    token_id=token_id,
                    owner=owner,
                    role=role,
                    secret_hash=hash_secret(secret),
                    description=description,
                    created_at=created,
                    created_by=token.created_by,
                    expires_at=expires_at,
                )
            )
            record(
                conn,
                actor=token.created_by,
                action="token.create",
                entity_type="token",
                entity_key=token_id,
                after={"owner": owner, "role": role, "expires_at": expires_at},
                time_ms=created,
            )
        return IssuedToken(token, secret)

    def verify(self, secret: str, *, at_ms: int | None = None) -> ApiToken:
        """The active token ``secret`` names; raises Unauthenticated (never quoting it)."""
        token_id = token_id_of(secret)
        if token_id is None:
            raise Unauthenticated(_REFUSED)
        with read_transaction(self._engine) as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
        if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(secret)):
            raise Unauthenticated(_REFUSED)
        token = _to_token(row)
        if token.revoked_at is not None:
            raise Unauthenticated(f"API token {token_id} was revoked")
        if not token.is_active(now_ms() if at_ms is None else at_ms):
            raise Unauthenticated(f"API token {token_id} has expired")
        return token

    def get(self, token_id: str) -> ApiToken:
        with read_transaction(self._engine) as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
        if row is None:
            raise NotFound(f"API token {token_id!r} not found")
        return _to_token(row)

    def list(self, *, owner: str | None = None, include_revoked: bool = True) -> list[ApiToken]:
        """Tokens oldest first (no secrets: they are not stored)."""
        query = select(api_tokens).order_by(api_tokens.c.created_at, api_tokens.c.token_id)
        if owner is not None:
            query = query.where(api_tokens.c.owner == owner)
        if not include_revoked:
            query = query.where(api_tokens.c.revoked_at.is_(None))
        with read_transaction(self._engine) as conn:
            return [_to_token(r) for r in conn.execute(query)]

    def revoke(self, token_id: str, *, actor: str | None = None) -> ApiToken:
        """Revoke a token (idempotent: revoking twice keeps the first time)."""
        with write_transaction(self._engine) as conn:
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
            if row is None:
                raise NotFound(f"API token {token_id!r} not found")
            if row.revoked_at is not None:
                return _to_token(row)
            when = now_ms()
            conn.execute(
                update(api_tokens).where(api_tokens.c.token_id == token_id).values(revoked_at=when)
            )
            record(
                conn,
                actor=actor or self._actor,
                action="token.revoke",
                entity_type="token",
                entity_key=token_id,
                before={"owner": row.owner, "role": row.role},
                time_ms=when,
            )
            row = conn.execute(select(api_tokens).where(api_tokens.c.token_id == token_id)).one()
        return _to_token(row)


def _to_token(row: Row[Any]) -> ApiToken:
    return ApiToken(
        token_id=row.token_id,
        owner=row.owner,
        role=row.role,
        description=row.description,
        created_at=row.created_at,
        created_by=row.created_by,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )
