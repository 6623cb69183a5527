"""8 processes move one alias at once: one holder at the end and an unbroken audit trail."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

from slipway.store import open_metadata_store

PROCESSES = 8
MOVES = 15
WORKER = textwrap.dedent(
    """
    import random, sys
    from slipway.store import open_metadata_store
    uri, worker, moves = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_metadata_store(uri, actor=f"worker-{worker}")
    rng = random.Random(worker)
    for _ in range(moves):
        store.models.set_alias("m", "champion", rng.randint(1, 4))
    store.close()
    """
)


def test_concurrent_alias_moves(store_uri: str) -> None:
    store = open_metadata_store(store_uri, actor="setup")
    for _ in range(4):
        store.models.create_version(
            "m", source="runs:/x/model", manifest_digest="ab" * 32, flavor="sklearn"
        )
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, store_uri, str(i), str(MOVES)])
        for i in range(PROCESSES)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * PROCESSES

    holders = [a for a in store.models.list_aliases("m") if a.alias == "champion"]
    assert len(holders) == 1
    history = store.audit.alias_history("m", "champion")
    assert len(history) == PROCESSES * MOVES
    # Serialised moves form one chain: each move starts where the previous one ended.
    assert history[0].from_version is None
    for previous, current in itertools.pairwise(history):
        assert current.from_version == previous.to_version
    assert history[-1].to_version == holders[0].version
    assert {h.actor for h in history} == {f"worker-{i}" for i in range(PROCESSES)}
    store.close()
