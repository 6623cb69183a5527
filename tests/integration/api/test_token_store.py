"""The token repository on every backend: hashing, expiry, revocation, audit."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from slipway.core.errors import InvalidInput, NotFound, Unauthenticated
from slipway.store import MetadataStore, open_metadata_store
from slipway.store.audit import now_ms
from slipway.store.schema import api_tokens
from slipway.store.tokens import token_id_of


@pytest.fixture
def store(store_uri: str) -> MetadataStore:
    s = open_metadata_store(store_uri, actor="root")
    yield s  # type: ignore[misc]
    s.close()


def test_only_a_hash_of_the_secret_is_stored(store: MetadataStore) -> None:
    issued = store.tokens.create("alice", "deployer", description="ci")
    assert issued.secret.startswith(f"slw_{issued.token.token_id}_")
    assert token_id_of(issued.secret) == issued.token.token_id
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(api_tokens))]
    flat = " ".join(str(v) for row in rows for v in row)
    assert issued.secret not in flat
    assert issued.secret.rsplit("_", 1)[1] not in flat
    assert hashlib.sha256(issued.secret.encode()).hexdigest() in flat
    assert store.tokens.verify(issued.secret).owner == "alice"


def test_unknown_and_tampered_tokens_are_refused_without_quoting_them(
    store: MetadataStore,
) -> None:
    issued = store.tokens.create("alice", "viewer")
    tampered = issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B")
    for secret in (tampered, "slw_0123456789abcdef_nope", "garbage", ""):
        with pytest.raises(Unauthenticated) as err:
            store.tokens.verify(secret)
        assert str(err.value) == "invalid API token"


def test_expiry(store: MetadataStore) -> None:
    issued = store.tokens.create("bob", "viewer", expires_at=now_ms() + 60_000)
    assert store.tokens.verify(issued.secret).owner == "bob"
    with pytest.raises(Unauthenticated, match="expired"):
        store.tokens.verify(issued.secret, at_ms=now_ms() + 61_000)
    with pytest.raises(InvalidInput, match="future"):
        store.tokens.create("bob", "viewer", expires_at=now_ms() - 1)


def test_revoke_is_immediate_idempotent_and_audited(store: MetadataStore) -> None:
    issued = store.tokens.create("carol", "admin")
    first = store.tokens.revoke(issued.token.token_id, actor="dave")
    again = store.tokens.revoke(issued.token.token_id)
    assert first.revoked_at is not None
    assert again.revoked_at == first.revoked_at
    with pytest.raises(Unauthenticated, match="revoked"):
        store.tokens.verify(issued.secret)
    assert store.tokens.list(include_revoked=False) == []
    assert [t.token_id for t in store.tokens.list(owner="carol")] == [issued.token.token_id]
    events = store.audit.search(entity_type="token", entity_key=issued.token.token_id)
    assert [(e.action, e.actor) for e in events] == [
        ("token.create", "root"),
        ("token.revoke", "dave"),
    ]
    with pytest.raises(NotFound):
        store.tokens.revoke("0123456789abcdef")


def test_owner_names_are_checked(store: MetadataStore) -> None:
    with pytest.raises(InvalidInput):
        store.tokens.create("../etc", "viewer")
