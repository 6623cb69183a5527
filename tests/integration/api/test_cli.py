"""``slipway tokens create|list|revoke`` against the local store (the bootstrap path)."""

from __future__ import annotations

import json
from pathlib import Path

from slipway.store import open_metadata_store
from tests.integration.api.conftest import cli, migrated_sqlite


def test_tokens_cli_bootstraps_an_admin(tmp_path: Path) -> None:
    home = tmp_path / "cli"
    uri = migrated_sqlite(home)
    made = cli(home, uri, "tokens", "create", "--owner", "alice", "--role", "admin",
               "--expires-in", "30d", "--json")  # fmt: skip
    assert made.returncode == 0, made.stderr
    doc = json.loads(made.stdout)
    assert doc["secret"].startswith(f"slw_{doc['token_id']}_")
    store = open_metadata_store(uri, actor="t")
    try:
        assert store.tokens.verify(doc["secret"]).role == "admin"
    finally:
        store.close()

    listed = cli(home, uri, "tokens", "list", "--json")
    assert doc["token_id"] in listed.stdout
    assert doc["secret"] not in listed.stdout

    revoked = cli(home, uri, "tokens", "revoke", doc["token_id"])
    assert revoked.returncode == 0, revoked.stderr
    assert cli(home, uri, "tokens", "list", "--json").stdout.strip() == "[]"

    wrong = cli(home, uri, "tokens", "create", "--owner", "bob", "--role", "root")
    assert wrong.returncode != 0
    bad_expiry = cli(home, uri, "tokens", "create", "--owner", "bob", "--role", "viewer",
                     "--expires-in", "soon")  # fmt: skip
    assert bad_expiry.returncode == 1
    assert "--expires-in" in bad_expiry.stderr
