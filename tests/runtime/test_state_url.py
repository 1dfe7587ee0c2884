"""Choosing the state backend, and keeping the PostgreSQL password out of every message."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.errors import ModelplaneError
from modelplane.runtime.state import open_store
from modelplane.runtime.state.postgres import PostgresStore
from modelplane.runtime.state.sqlite import StateStore
from modelplane.runtime.state.url import redact, resolve, scrub, split_password
from modelplane.specs.project import StateSettings
from tests.pg_server import PgDatabase

SECRET = "hunter2:/@x"


def test_redact_masks_the_password_wherever_the_url_carries_it() -> None:
    assert redact("postgresql://me:pw@db:5432/s") == "postgresql://me:***@db:5432/s"
    assert redact("postgresql://me@db/s?password=pw&sslmode=require") == (
        "postgresql://me@db/s?password=***&sslmode=require"
    )
    assert redact("postgresql://db/s") == "postgresql://db/s"


def test_split_password_takes_it_out_of_the_url() -> None:
    quoted = quote(SECRET, safe="")
    assert split_password(f"postgresql://me:{quoted}@db:5432/s") == ("postgresql://me@db:5432/s", SECRET)
    assert split_password("postgresql://me@db/s?password=pw&sslmode=require") == (
        "postgresql://me@db/s?sslmode=require",
        "pw",
    )
    assert split_password("postgresql://me@db/s") == ("postgresql://me@db/s", None)


def test_scrub_masks_secrets_in_driver_text() -> None:
    text = f"bad: password={SECRET} and {quote(SECRET, safe='')} and {SECRET}"
    assert SECRET not in scrub(text, (SECRET,)) and quote(SECRET, safe="") not in scrub(text, (SECRET,))


def test_the_environment_variable_wins_over_the_project_file(tmp_path: Path) -> None:
    sqlite = StateSettings()
    assert resolve(tmp_path, sqlite, {}).path == tmp_path / ".modelplane" / "state.db"
    t = resolve(tmp_path, sqlite, {"MODELPLANE_STATE_URL": "postgresql://me:pw@db/s"})
    assert (t.backend, t.url, t.password, t.source) == (
        "postgres",
        "postgresql://me@db/s",
        "pw",
        "MODELPLANE_STATE_URL",
    )
    assert "pw" not in repr(t)  # a traceback showing the target does not show the password
    pg = StateSettings(backend="postgres", url="postgresql://me@db/s")
    assert resolve(tmp_path, pg, {"MODELPLANE_STATE_URL": "postgresql://ci@other/s"}).url == "postgresql://ci@other/s"


def test_the_password_comes_from_a_file_the_environment_or_the_project_names(tmp_path: Path) -> None:
    (tmp_path / "from-env").write_text("env-pw\n")
    (tmp_path / "from-yaml").write_text("yaml-pw\nignored second line\n")
    pg = StateSettings(backend="postgres", url="postgresql://me@db/s", password_file="from-yaml")
    assert resolve(tmp_path, pg, {}).password == "yaml-pw"
    env = {"MODELPLANE_STATE_PASSWORD_FILE": str(tmp_path / "from-env")}
    assert resolve(tmp_path, pg, env).password == "env-pw"
    with pytest.raises(ModelplaneError, match="cannot read the state database password file") as exc:
        resolve(tmp_path, pg, {"MODELPLANE_STATE_PASSWORD_FILE": str(tmp_path / "missing")})
    assert "MODELPLANE_STATE_PASSWORD_FILE" in str(exc.value)


def test_postgres_without_a_url_and_a_foreign_url_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelplaneError, match="no database URL is set") as exc:
        resolve(tmp_path, StateSettings.model_validate("postgres"), {})  # `state: postgres` shorthand
    assert "MODELPLANE_STATE_URL" in (exc.value.diagnostics[0].hint or "")
    with pytest.raises(ModelplaneError, match="not a PostgreSQL URL") as exc:
        resolve(tmp_path, StateSettings(), {"MODELPLANE_STATE_URL": f"mysql://me:{SECRET}@db/s"})
    assert SECRET not in str(exc.value)


def test_a_password_in_the_committed_project_file_is_refused_without_echoing_it(
    make_project: Callable[..., Path],
) -> None:
    root = make_project(
        {"specs/a.yaml": "kind: Dataset\n"},
        project=f"name: demo\nstate: {{backend: postgres, url: 'postgresql://me:{SECRET}@db/s'}}\n",
    )
    result = CliRunner().invoke(app, ["validate", "-C", str(root)])
    assert result.exit_code == 1 and "state.url carries a password" in result.output, result.output
    message = next(line for line in result.output.splitlines() if "carries a password" in line)
    assert "hunter2" not in message  # (the source line under it is the user's own committed file)


def test_the_sqlite_default_is_unchanged(tmp_path: Path) -> None:
    store = open_store(tmp_path, StateSettings(), {})
    assert isinstance(store, StateStore) and store.path == tmp_path / ".modelplane" / "state.db"


def test_a_wrong_password_never_appears_in_the_error(pg_db: PgDatabase) -> None:
    url = f"postgresql://modelplane:{quote(SECRET, safe='')}@127.0.0.1:{pg_db.server.port}/{pg_db.name}"
    with pytest.raises(ModelplaneError, match="cannot connect to the state database") as exc:
        open_store(Path("."), StateSettings(), {"MODELPLANE_STATE_URL": url})
    text = str(exc.value) + str(exc.value.diagnostics[0].hint)
    assert "password authentication failed" in text and "modelplane:***@127.0.0.1" not in text
    assert SECRET not in text and quote(SECRET, safe="") not in text and "hunter2" not in text


def test_an_unreachable_server_is_named_with_the_password_masked() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(ModelplaneError, match=f"cannot connect to the state database postgresql://me@127.0.0.1:{port}"):
        PostgresStore(f"postgresql://me@127.0.0.1:{port}/s", SECRET)


def test_cli_output_never_shows_the_password(
    make_project: Callable[..., Path], pg_db: PgDatabase, tmp_path: Path
) -> None:
    root = make_project({"specs/a.yaml": "kind: Dataset\n"})
    sqlite = StateStore(root / ".modelplane" / "state.db")
    sqlite.history_begin("a1", "dev", "p", "w", "alice")
    sqlite.history_end("a1", "succeeded", {})
    runner = CliRunner()
    with_pw = pg_db.server.url(pg_db.name, with_password=True)
    quoted = quote(pg_db.password, safe="")
    assert quoted in with_pw
    outputs = []
    for args, env in [
        (["state", "migrate", "--to", with_pw], {}),
        (["state", "migrate", "--to", with_pw], {}),  # the "nothing to do" path
        (["state", "export"], {"MODELPLANE_STATE_URL": with_pw}),
        (["history"], {"MODELPLANE_STATE_URL": with_pw}),
        (["state", "migrate", "--to", with_pw.replace(quoted, "wrong" + quoted)], {}),
        (["state", "unlock", "--force", "--yes"], {"MODELPLANE_STATE_URL": with_pw}),
    ]:
        result = runner.invoke(app, [*args, "-C", str(root)], env=env)
        outputs.append(result.output)
    assert "copied 1 row " in outputs[0] and "nothing to do" in outputs[1] and "a1" in outputs[3], outputs
    assert "password authentication failed" in outputs[4], outputs[4]
    for out in outputs:
        assert pg_db.password not in out and quoted not in out, out
    logs = list((root / ".modelplane").rglob("*.log"))
    assert all(pg_db.password not in p.read_text() for p in logs)
