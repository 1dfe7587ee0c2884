"""Team mode: two checkouts of one project share a Temporal service, a PostgreSQL state and one lock.

A separate Temporal dev server process stands in for the team's cluster; the
worker runs in a directory that holds only its connection settings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelplane.runtime.procs import free_port
from modelplane.runtime.state.postgres import PostgresStore
from tests.integration.pipeline import BIN, PROJECT, Pipeline, _env, make_pipeline
from tests.pg_server import PgDatabase, pg_db, pg_server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.integration


@dataclass
class Team:
    a: Pipeline
    b: Pipeline
    workers: list[subprocess.Popen[bytes]]
    start_worker: Callable[..., subprocess.Popen[bytes]]
    logs: Path
    """Start a worker in a new directory (named) that holds only the connection settings."""


@pytest.fixture
def team(tmp_path: Path, temporal_server: str, pg_db: PgDatabase) -> Iterator[Team]:  # noqa: F811
    """Clones A and B of one project, and a worker serving them from an empty directory."""
    password_file = tmp_path / "pgpass"
    password_file.write_text(pg_db.password + "\n")
    connection = f'temporal: {{address: "{temporal_server}", task_queue: team}}\n'
    state = f"state: {{backend: postgres, url: '{pg_db.url}', password_file: '{password_file}'}}\n"
    a = make_pipeline(tmp_path / "a")
    (a.root / "modelplane.yaml").write_text(PROJECT + "  staging: {}\n" + state + connection)
    b = Pipeline(tmp_path / "b")
    shutil.copytree(a.root, b.root)
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker(name: str, *args: str, build: str | None = None) -> subprocess.Popen[bytes]:
        where = tmp_path / name
        where.mkdir()
        (where / "modelplane.yaml").write_text("name: worker-only\n" + connection)
        env = {**_env(), **({"MODELPLANE_BUILD_ID": build} if build else {})}
        with (tmp_path / f"{name}.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "modelplane", "worker", *args],
                cwd=where,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        workers.append(worker)
        deadline = time.monotonic() + 60
        while not (where / ".modelplane" / "worker.json").exists():
            assert worker.poll() is None, (tmp_path / f"{name}.log").read_text()
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)
        return worker

    try:
        start_worker("worker", build="build-1")
        yield Team(a, b, workers, start_worker, tmp_path)
    finally:
        for w in workers:
            if w.poll() is None:
                w.terminate()
                w.wait(timeout=30)
        a.stop()
        b.stop()


def _pg(p: Pipeline) -> tuple[str, str]:
    """The checkout's PostgreSQL URL and password (from its project file)."""
    import yaml

    state = yaml.safe_load((p.root / "modelplane.yaml").read_text())["state"]
    return state["url"], Path(state["password_file"]).read_text().strip()


def _plan_of(refusal: str) -> str:
    return refusal.split("plan ", 1)[1].split(",", 1)[0]


def test_a_second_checkout_is_refused_while_the_first_applies_and_sees_its_apply(team: Team) -> None:
    a, b = team.a, team.b
    a.slow(eval=10)
    running = a.start("apply", "--auto-approve")
    try:
        a.wait_for("eval", "start", timeout=90)
        # B plans something else meanwhile (a different plan, so not a re-attach to A's)
        b.edit('version: "1"', 'version: "2"')
        refused = b.run("apply", "--auto-approve")
        said = refused.stdout + refused.stderr
        assert refused.returncode == 1, said
        assert "another apply is running on pipeline/dev" in said and "started" in said and " by " in said, said
        assert f"from {a.root}" in said and "modelplane abort --env dev" in said  # where from, how to stop it
        status = b.run("status", check=True).stdout
        assert f"apply of plan {_plan_of(said)} running" in status and f"from {a.root}" in status, status
        assert "evaluate:evaluation/chat-quality  running" in status, status
        out, _ = running.communicate(timeout=180)
        assert running.returncode == 0, out
    finally:
        if running.poll() is None:
            running.kill()
    # B's history is A's: one apply, succeeded, with its effects once
    history = b.run("history", check=True).stdout
    assert len(history.splitlines()) == 1 and "succeeded" in history, history
    assert a.count("eval", "done") == 1
    # with A's specs, B has nothing to do: the state both read is the one A's apply wrote
    b.edit('version: "2"', 'version: "1"')
    plan = b.run("plan", "--detailed-exitcode")
    assert plan.returncode == 0 and "No changes" in plan.stdout, plan.stdout + plan.stderr
    assert not (b.root / ".modelplane" / "temporal.db").exists()  # no embedded server in either checkout
    assert not (a.root / ".modelplane" / "temporal.db").exists()


def test_a_killed_worker_service_is_replaced_by_one_elsewhere_and_every_effect_runs_once(team: Team) -> None:
    """The crash test in team mode: the worker dies mid-action; a new one in another directory finishes
    the apply that checkout A is still attached to, without repeating what was done."""
    a = team.a
    a.run("apply", "--auto-approve", check=True)
    a.edit('version: "1"', 'version: "2"')  # the raw data changes: prep, train and eval run again
    a.slow(train=3)
    attached = a.start("apply", "--auto-approve")
    try:
        a.wait_for("train", "start", timeout=90)
        team.workers[0].kill()  # the worker service, mid-activity
        team.workers[0].wait()
        team.start_worker("replacement", build="build-1")  # the same code, elsewhere: the pinned apply moves to it
        out, _ = attached.communicate(timeout=240)
        assert attached.returncode == 0, out
    finally:
        if attached.poll() is None:
            attached.kill()
    assert a.count("prep", "start") == 1 and a.count("prep", "done") == 1
    assert a.count("train", "done") == 1 and a.count("train", "start") == 2  # attempt 1 died with its worker
    assert a.count("eval", "done") == 2  # the first apply's, and this one's
    store = PostgresStore(*_pg(a))
    done = [e for e in store.ledger("dev") if e.status == "done"]
    assert done and len(done) == len({e.key for e in done})
    assert a.run("plan", "--detailed-exitcode").returncode == 0


def _build_of(p: Pipeline, env: str) -> str:
    """The build id of the worker deployment version an environment's last apply ran on."""
    out = subprocess.run(
        [str(BIN.parent / "temporal"), "workflow", "describe", "--workflow-id", f"apply/pipeline/{env}",
         "--address", _address(p), "--output", "json"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    info = json.loads(out)["workflowExecutionInfo"]["versioningInfo"]
    assert info["behavior"] == "VERSIONING_BEHAVIOR_PINNED"
    return str(info["deploymentVersion"]["buildId"])


def _address(p: Pipeline) -> str:
    import yaml

    return str(yaml.safe_load((p.root / "modelplane.yaml").read_text())["temporal"]["address"])


def test_a_new_worker_build_takes_new_applies_while_one_in_flight_finishes_on_its_own(team: Team) -> None:
    """Worker Versioning: applies are pinned to the build that started them; a new build becomes current."""
    a = team.a
    a.slow(eval=8)
    first = a.start("apply", "--auto-approve", "--env", "dev")
    try:
        a.wait_for("eval", "start", timeout=90)
        port = free_port()
        team.start_worker("worker-2", "--health-port", str(port), "--log-format", "json", build="build-2")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
            health = json.loads(r.read())
        assert health["status"] == "polling" and health["build_id"] == "build-2", health
        a.slow()  # the second apply's evaluation is quick
        second = a.run("apply", "--auto-approve", "--env", "staging", timeout=180)
        assert second.returncode == 0, second.stdout + second.stderr
        out, _ = first.communicate(timeout=180)
        assert first.returncode == 0, out
    finally:
        if first.poll() is None:
            first.kill()
    assert _build_of(a, "dev") == "build-1"  # started there, finished there, though build-2 became current
    assert _build_of(a, "staging") == "build-2"
    lines = [json.loads(line) for line in (team.logs / "worker-2.log").read_text().splitlines() if line.startswith("{")]
    assert any(line.get("event") == "polling" and line.get("build_id") == "build-2" for line in lines), lines


def test_the_state_database_down_as_a_command_finishes_runs_it_once(team: Team, pg_db: PgDatabase) -> None:  # noqa: F811
    """Issue 30: PostgreSQL stops while train runs and starts again after it finished; the ledger write is
    retried inside the activity (the outcome journalled first), so train's effect happens once."""
    a = team.a
    a.run("apply", "--auto-approve", check=True)
    a.edit('version: "1"', 'version: "2"')  # the raw data changes: prep, train and eval run again
    a.slow(train=4)
    attached = a.start("apply", "--auto-approve")
    try:
        a.wait_for("train", "start", timeout=90)
        pg_db.server.pause()
        try:
            a.wait_for("train", "done", timeout=60)
            time.sleep(3)  # the ledger write fails meanwhile
        finally:
            pg_db.server.resume()
        out, _ = attached.communicate(timeout=240)
        assert attached.returncode == 0, out
    finally:
        if attached.poll() is None:
            attached.kill()
    assert a.count("train", "start") == 1 and a.count("train", "done") == 1, a.effects()
    assert a.count("eval", "done") == 2  # the first apply's, and this one's
    assert not list((a.root / ".modelplane" / "journal").glob("*.json"))  # cleared once recorded
    worker_log = (team.logs / "worker.log").read_text()
    assert "recording run-workflow:workflow/train in the ledger failed" in worker_log  # the outage hit that write
    assert a.run("plan", "--detailed-exitcode").returncode == 0  # the ledger holds what ran


def _env_only_worker(team: Team, name: str) -> subprocess.Popen[bytes]:
    """A worker service configured by environment variables alone: its directory has no modelplane.yaml."""
    where = team.logs / name
    where.mkdir()
    env = {
        **_env(),
        "MODELPLANE_TEMPORAL_ADDRESS": _address(team.a),
        "MODELPLANE_TEMPORAL_TASK_QUEUE": "team",
        "MODELPLANE_BUILD_ID": "build-1",
    }
    with (team.logs / f"{name}.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "modelplane", "worker"], cwd=where, stdout=log, stderr=subprocess.STDOUT, env=env
        )
    team.workers.append(worker)
    return worker


def test_with_no_worker_the_apply_says_so_and_an_env_only_worker_then_runs_it(team: Team) -> None:
    """Issue 30: with no worker polling, the attached apply says so and how to fix it (not "lost the Temporal
    server"); a worker configured only by MODELPLANE_TEMPORAL_* (no modelplane.yaml) then runs it. Temporal
    core's WARN lines (coloured) never reach the command's output."""
    import threading

    a = team.a
    for w in team.workers:
        w.terminate()
        w.wait(timeout=30)
    attached = a.start("apply", "--auto-approve")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(attached.stdout or []), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 90
        while not any("no worker polls task queue `team`" in line for line in lines):
            assert attached.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        said = "".join(lines)
        assert "a team: start `modelplane worker`" in said and "lost the Temporal server" not in said, said
        worker = _env_only_worker(team, "env-only")
        attached.wait(timeout=240)
        reader.join(timeout=10)
    finally:
        if attached.poll() is None:
            attached.kill()
    out = "".join(lines)
    assert attached.returncode == 0, out
    assert worker.poll() is None, (team.logs / "env-only.log").read_text()
    assert a.count("eval", "done") == 1, a.effects()
    assert (team.logs / "env-only" / ".modelplane" / "worker.json").exists()  # it kept its files where it runs
    assert " WARN " not in out and "\x1b[" not in out, out  # no Temporal core log lines, no colours
