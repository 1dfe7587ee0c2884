"""`modelplane apply` with the state in a real PostgreSQL: the CLI, the background worker and a second
checkout all read and write the one database."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.runtime.state.postgres import PostgresStore
from tests.integration.pipeline import PROJECT, Pipeline, make_pipeline
from tests.pg_server import PgDatabase, pg_db, pg_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


def _use_postgres(p: Pipeline, db: PgDatabase, password_file: Path) -> None:
    (p.root / "modelplane.yaml").write_text(
        PROJECT + f"state: {{backend: postgres, url: '{db.url}', password_file: '{password_file}'}}\n"
    )


@pytest.fixture
def clones(tmp_path: Path, pg_db: PgDatabase) -> Iterator[tuple[Pipeline, Pipeline]]:  # noqa: F811
    password_file = tmp_path / "pgpass"
    password_file.write_text(pg_db.password + "\n")
    a = make_pipeline(tmp_path / "a")
    _use_postgres(a, pg_db, password_file)
    b = Pipeline(tmp_path / "b")
    shutil.copytree(a.root, b.root)
    try:
        yield a, b
    finally:
        a.stop()
        b.stop()


def test_apply_with_postgres_state_is_seen_from_another_checkout(
    clones: tuple[Pipeline, Pipeline],
    pg_db: PgDatabase,  # noqa: F811
) -> None:
    a, b = clones
    first = a.run("apply", "--auto-approve")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "succeeded" in first.stdout
    assert a.run("plan", "--detailed-exitcode").returncode == 0  # the worker wrote the state to PostgreSQL

    # checkout B never applied: it sees A's apply and has nothing to do
    history = b.run("history", check=True).stdout
    assert "succeeded" in history and len(history.splitlines()) == 1, history
    plan_b = b.run("plan", "--detailed-exitcode")
    assert plan_b.returncode == 0 and "No changes" in plan_b.stdout, plan_b.stdout + plan_b.stderr
    assert not (a.root / ".modelplane" / "state.db").exists() and not (b.root / ".modelplane" / "state.db").exists()

    store = PostgresStore(pg_db.url, pg_db.password)
    done = [e for e in store.ledger("dev") if e.status == "done"]
    assert done and len(done) == len({e.key for e in done})  # every effect once
    assert [c["version"] for c in store.catalog("dev") if c["id"] == "model/chat"] == ["1.0.0"]
    for log in [*(a.root / ".modelplane").rglob("*.log"), *(b.root / ".modelplane").rglob("*.log")]:
        assert pg_db.password not in log.read_text(), log


def test_a_checkout_with_its_own_temporal_is_held_off_by_the_state_lock(
    clones: tuple[Pipeline, Pipeline],
) -> None:
    """Two checkouts share the PostgreSQL state but not a Temporal service (each its embedded server),
    so the workflow id cannot lock them apart: the lock row in the state does."""
    a, b = clones
    # A's evaluation must outlast B's whole preflight, which starts B's own embedded Temporal server first: 8 s was
    # once too short on a slow-running machine (B got the lock after A had released it, and applied)
    a.slow(eval=25)
    running = a.start("apply", "--auto-approve")
    try:
        a.wait_for("eval", "start", timeout=90)
        b.edit('version: "1"', 'version: "2"')
        refused = b.run("apply", "--auto-approve")
        said = refused.stdout + refused.stderr
        assert refused.returncode == 1, said
        assert "the state of dev is held by apply" in said and "state unlock --force --env dev" in said, said
        assert b.effects() == []  # the preflight refused it: nothing ran
        out, _ = running.communicate(timeout=180)
        assert running.returncode == 0, out
    finally:
        if running.poll() is None:
            running.kill()
    again = b.run("apply", "--auto-approve", timeout=180)  # A's apply released the lock
    assert again.returncode == 0, again.stdout + again.stderr
