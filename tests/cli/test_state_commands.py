"""``modelplane state export / import / migrate / unlock`` on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.runtime.state import TABLES
from modelplane.runtime.state.ports import EffectWrites
from modelplane.runtime.state.sqlite import SCHEMA_VERSION, StateStore
from tests.pg_server import PgDatabase

runner = CliRunner()
PROJECT = "name: demo\nspecs: ['specs/**/*.yaml']\nenvironments:\n  dev: {}\n  prod: {}\n"


def fill(store: StateStore) -> None:
    """A state with a row in every table, as two applies leave it."""
    doc = {"kind": "Dataset", "metadata": {"name": "a", "labels": {"z": "1", "a": "2"}}}
    store.history_begin("a1", "dev", "plan1", "apply/demo/dev", "alice")
    store.record("dev", "a1", upserts=[("dataset/a", "Dataset", "specs/a.yaml", 0, doc)])
    store.ledger_begin("k1", "dev", "a1", "register:dataset/a")
    store.ledger_done(
        "k1",
        {"version": "1", "z": 0, "a": [1.5, None]},
        environment="dev",
        apply_id="a1",
        writes=EffectWrites(
            outputs={"dataset/a": {"uri": "file:///tmp/a"}},
            catalog=("dataset/a", "1", {"rows": 3}),
            notification=("team-a", "dataset/a registered", {"impact": "metadata-only"}),
        ),
    )
    store.ledger_begin("k2", "dev", "a1", "run:workflow/w")
    store.ledger_failed("k2", "exit 3")
    store.record(
        "dev",
        "a1",
        pending=[("run:workflow/w", "run-workflow", "workflow/w", "failed: exit 3")],
        runs=[("run:workflow/w", "run-workflow", "workflow/w", "failed", {"error": "exit 3"})],
    )
    store.history_end("a1", "failed", {"done": 1, "failed": 1}, {"run:workflow/w": "exit 3"})
    store.history_begin("a2", "prod", "plan2", "apply/demo/prod", "bob")
    store.history_end("a2", "succeeded", {})
    store.lock_acquire("prod", "a3", "carol", "laptop:/src/demo")
    store.lock_acquire("dev", "a4", "dave", "ci:/build")
    store.force_unlock("dev", "erin@ci", "dave's runner died")


@pytest.fixture
def project(make_project: Callable[..., Path]) -> Path:
    root = make_project({"specs/a.yaml": "kind: Dataset\n"}, project=PROJECT)
    store = StateStore(root / ".modelplane" / "state.db")
    fill(store)
    store.close()
    return root


@pytest.fixture
def password_file(tmp_path: Path, pg_db: PgDatabase) -> Path:
    f = tmp_path / "pgpass"
    f.write_text(pg_db.password + "\n")
    return f


def state(root: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["state", *args, "-C", str(root)], env=env, input=input)
    return result.exit_code, result.output


def test_export_is_a_versioned_deterministic_document_of_every_table(project: Path) -> None:
    code, out = state(project, "export")
    assert code == 0, out
    doc = json.loads(out)
    assert (doc["format"], doc["version"], doc["schema_version"]) == ("modelplane-state", 1, SCHEMA_VERSION)
    assert list(doc["tables"]) == list(TABLES)
    assert all(doc["tables"][t] for t in TABLES), "the fixture writes a row in every table"
    assert doc["tables"]["nodes"][0]["data"]["metadata"]["labels"] == {"a": "2", "z": "1"}  # JSON decoded
    assert state(project, "export")[1] == out  # same state, same bytes
    code, msg = state(project, "export", "-o", str(project / "out.json"))
    assert code == 0 and (project / "out.json").read_text() == out, msg


def test_migrate_round_trip_sqlite_to_postgres_exports_the_same_document(
    project: Path, pg_db: PgDatabase, password_file: Path
) -> None:
    env = {"MODELPLANE_STATE_PASSWORD_FILE": str(password_file)}
    _, sqlite_export = state(project, "export")
    code, out = state(project, "migrate", "--to", pg_db.url, env=env)
    assert code == 0, out
    assert "copied" in out and "both export the same document" in out
    code, pg_export = state(project, "export", env={**env, "MODELPLANE_STATE_URL": pg_db.url})
    assert code == 0, pg_export
    assert pg_export == sqlite_export
    code, again = state(project, "migrate", "--to", pg_db.url, env=env)  # idempotent: a second run is fine
    assert code == 0 and "nothing to do" in again, again
    # the migrated state serves the other commands: history reads it from PostgreSQL
    result = runner.invoke(
        app, ["history", "--env", "dev", "-C", str(project)], env={**env, "MODELPLANE_STATE_URL": pg_db.url}
    )
    assert result.exit_code == 0 and "a1" in result.output, result.output


def test_migrate_refuses_a_database_holding_another_state_unless_forced(
    project: Path, pg_db: PgDatabase, password_file: Path
) -> None:
    from modelplane.runtime.state.postgres import PostgresStore

    other = PostgresStore(pg_db.url, pg_db.password)
    other.history_begin("zz", "dev", "p", "w", "someone else")
    other.close()
    env = {"MODELPLANE_STATE_PASSWORD_FILE": str(password_file)}
    code, out = state(project, "migrate", "--to", pg_db.url, env=env)
    assert code == 1 and "already holds a different state" in out and "--force" in out, out
    code, out = state(project, "migrate", "--to", pg_db.url, "--force", env=env)
    assert code == 0, out
    assert state(project, "export", env={**env, "MODELPLANE_STATE_URL": pg_db.url})[1] == state(project, "export")[1]


def test_migrate_waits_for_a_running_apply(project: Path, pg_db: PgDatabase, password_file: Path) -> None:
    store = StateStore(project / ".modelplane" / "state.db")
    store.history_begin("a9", "dev", "p", "w", "alice")
    store.close()
    code, out = state(project, "migrate", "--to", pg_db.url, env={"MODELPLANE_STATE_PASSWORD_FILE": str(password_file)})
    assert code == 1 and "apply a9 on dev has not finished" in out and "modelplane status --env dev" in out, out


def test_import_fills_an_empty_store_and_refuses_a_full_one(
    project: Path, pg_db: PgDatabase, password_file: Path
) -> None:
    _, exported = state(project, "export")
    (project / "state.json").write_text(exported)
    env = {"MODELPLANE_STATE_PASSWORD_FILE": str(password_file), "MODELPLANE_STATE_URL": pg_db.url}
    code, out = state(project, "import", str(project / "state.json"), env=env)
    assert code == 0 and f"imported {sum(len(r) for r in json.loads(exported)['tables'].values())} rows" in out, out
    assert state(project, "export", env=env)[1] == exported
    code, out = state(project, "import", str(project / "state.json"), env=env)
    assert code == 1 and "is not empty" in out and "--force" in out, out
    assert state(project, "import", str(project / "state.json"), "--force", env=env)[0] == 0
    assert state(project, "export", env=env)[1] == exported  # replaced, not doubled


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="other"), 'not a modelplane state export (expected "format": "modelplane-state")'),
        (lambda d: d.update(version=9), "export format version 9; this modelplane reads version 1"),
        (lambda d: d.update(schema_version=99), f"schema version 99; this modelplane knows up to {SCHEMA_VERSION}"),
        (lambda d: d["tables"].update(widgets=[]), "unknown table `widgets`"),
        (lambda d: d["tables"]["nodes"][0].pop("kind"), "tables.nodes[0]: missing column `kind`"),
        (lambda d: d["tables"]["nodes"][0].update(colour=1), "tables.nodes[0]: unknown column `colour`"),
        (lambda d: d["tables"]["environments"][0].update(serial="2"), "environments[0].serial: expected an integer"),
    ],
)
def test_a_bad_document_is_refused_naming_what_and_where(
    project: Path, tmp_path: Path, edit: Callable[[dict[str, object]], object], message: str
) -> None:
    doc = json.loads(state(project, "export")[1])
    edit(doc)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    (project / ".modelplane" / "state.db").unlink()
    code, out = state(project, "import", str(bad))
    assert code == 1 and message in out and str(bad) in out, out


def test_unlock_needs_force_and_a_confirmation_and_leaves_an_audit_entry(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = state(project, "unlock", "--env", "prod")
    assert code == 1 and "--force" in out and "modelplane abort --env prod" in out, out
    code, out = state(project, "unlock", "--env", "prod", "--force")  # no terminal to ask on
    assert code == 1 and "pass --yes" in out, out
    code, out = state(project, "unlock", "--env", "prod", "--force", "--yes")
    assert code == 0 and "cleared apply a3's lock on prod" in out, out
    assert "no lock is held" in state(project, "unlock", "--env", "dev", "--force", "--yes")[1]  # dev was cleared

    store = StateStore(project / ".modelplane" / "state.db")
    store.lock_acquire("dev", "a5", "frank", "laptop:/x")
    monkeypatch.setattr("modelplane.cli.state._can_prompt", lambda: True)
    code, out = state(project, "unlock", "--env", "dev", "--force", input="prod\n")  # the wrong name
    assert code == 1 and "not confirmed" in out and store.lock_holder("dev") is not None, out
    code, out = state(project, "unlock", "--env", "dev", "--force", "--reason", "frank left", input="dev\n")
    assert code == 0 and "held by apply a5 (frank on laptop:/x" in out and "cleared apply a5's lock" in out, out
    assert store.lock_holder("dev") is None
    last = store.audit("dev")[-1]
    assert last.action == "unlock" and last.detail == {
        "cleared": {
            "apply_id": "a5",
            "holder": "frank",
            "location": "laptop:/x",
            "since": last.detail["cleared"]["since"],
        },
        "reason": "frank left",
    }


def test_migrate_without_a_sqlite_state_says_so(make_project: Callable[..., Path], pg_db: PgDatabase) -> None:
    root = make_project({"specs/a.yaml": "kind: Dataset\n"})
    code, out = state(root, "migrate", "--to", pg_db.url)
    assert code == 1 and "no SQLite state to migrate" in out, out


def test_export_and_import_say_what_is_missing(make_project: Callable[..., Path], tmp_path: Path) -> None:
    root = make_project({"specs/a.yaml": "kind: Dataset\n"})
    code, out = state(root, "export")
    assert code == 1 and "there is no state for demo yet" in out and "modelplane apply" in out, out
    assert not (root / ".modelplane" / "state.db").exists()  # exporting never creates a store
    code, out = state(root, "import", str(tmp_path / "missing.json"))
    assert code == 1 and f"cannot read {tmp_path / 'missing.json'}" in out, out
    (tmp_path / "not.json").write_text("{")
    code, out = state(root, "import", str(tmp_path / "not.json"))
    assert code == 1 and "not JSON" in out, out
