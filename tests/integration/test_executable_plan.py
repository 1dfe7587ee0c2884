"""The plan is what apply executes: after a checkout, with a worker outside the project, with default rollouts.

All against real Temporal dev servers, real processes on loopback and real git.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelplane.runtime.state.sqlite import StateStore
from tests.conftest import EXAMPLES
from tests.integration.pipeline import BIN, SERVING, Pipeline, _env, make_pipeline

pytestmark = pytest.mark.integration


def _git(root: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@x"}  # fmt: skip
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True, env=env).stdout


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[Pipeline]:
    p = make_pipeline(tmp_path / "p", serving=True)
    try:
        yield p
    finally:
        p.stop()


def _load(p: Pipeline, seconds: float) -> subprocess.Popen[str]:
    return p.start("load", "chat", "--qps", "40", "--duration", str(seconds), "--format", "json")


def test_apply_planfile_after_another_branch_is_checked_out_deploys_what_the_plan_showed(
    serving: Pipeline, tmp_path: Path
) -> None:
    root = serving.root
    (root / ".gitignore").write_text(".modelplane/\neffects.log\nmetrics.json\n")
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "v1")
    serving.run("apply", "--auto-approve", check=True)
    # the release branch bumps the model; its plan is saved
    _git(root, "checkout", "-q", "-b", "release")
    serving.edit('version: "1.0.0"', 'version: "1.1.0"')
    _git(root, "commit", "-qam", "v1.1")
    planfile = tmp_path / "plan.json"
    serving.run("plan", "--out", str(planfile), check=True)
    plan = json.loads(planfile.read_text())
    rollout = next(a for a in plan["execution"]["actions"] if a["id"] == "rollout:endpoint/chat")
    planned_revision = rollout["details"]["revision"]
    # someone checks out another branch that says something else
    _git(root, "checkout", "-q", "main")
    _git(root, "checkout", "-q", "-b", "other")
    serving.edit('version: "1.0.0"', 'version: "9.9.9"')
    serving.edit("ttft_ms: 10", "ttft_ms: 11", file="specs/serving.yaml")
    _git(root, "commit", "-qam", "something else")
    load = _load(serving, 60)
    try:
        out = serving.run("apply", str(planfile), "--auto-approve", "--allow-stale-specs", timeout=240)
    finally:
        load.terminate()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "the specs on disk changed since" in out.stderr  # --allow-stale-specs: said; the plan carries its documents
    reg = serving.registry()
    assert list(reg["revisions"]) == [planned_revision]
    assert reg["revisions"][planned_revision]["role"] == "stable"
    assert reg["revisions"][planned_revision]["model"] == "chat@1.1.0"  # the plan's version, not 9.9.9
    applied = StateStore(root / ".modelplane" / "state.db").applied("dev")
    assert applied.nodes["model/chat"].data["spec"]["version"] == "1.1.0"
    # the next plan of the checked-out branch sees the plan's values as applied
    again = serving.run("plan", "--format", "json", check=True)
    changed = {c["id"] for c in json.loads(again.stdout)["changes"]}
    assert "model/chat" in changed and "endpoint/chat" in changed


def test_an_apply_runs_with_its_worker_started_outside_the_project(tmp_path: Path, temporal_server: str) -> None:
    p = make_pipeline(tmp_path / "project")
    queue = "outside-worker"
    connection = f'temporal: {{address: "{temporal_server}", task_queue: {queue}}}\n'
    (p.root / "modelplane.yaml").write_text((p.root / "modelplane.yaml").read_text() + connection)
    # the worker's directory holds its connection settings and nothing else: no specs, no scripts, no state
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "modelplane.yaml").write_text("name: worker-only\n" + connection)
    with open(tmp_path / "worker.log", "wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "modelplane", "worker"], cwd=elsewhere, stdout=log, stderr=subprocess.STDOUT,
            env=_env(),
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (elsewhere / ".modelplane" / "worker.json").exists():
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()
            assert time.monotonic() < deadline, "the worker did not start"
            time.sleep(0.1)
        out = p.run("apply", "--auto-approve", timeout=180)
        assert out.returncode == 0, out.stdout + out.stderr + (tmp_path / "worker.log").read_text()
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    # the commands ran in the project (the apply's root), and the project's state holds the result
    assert [e["name"] for e in p.effects() if e["event"] == "done"] == ["eval"]  # a first apply evaluates only
    store = StateStore(p.root / ".modelplane" / "state.db")
    assert store.serial("dev") > 0 and "model/chat" in store.applied("dev").nodes
    assert (p.root / ".modelplane" / "runs").is_dir()
    assert sorted(x.name for x in (elsewhere / ".modelplane").iterdir()) == ["worker.json"]


def test_apply_prod_without_the_pulumi_cli_runs_nothing_and_says_what_to_install(tmp_path: Path) -> None:
    project = tmp_path / "assistant-platform"
    shutil.copytree(EXAMPLES / "assistant-platform", project, ignore=shutil.ignore_patterns(".modelplane"))
    env = {k: v for k, v in _env().items() if not k.startswith(("PULUMI_", "MODELPLANE_PULUMI"))}
    env["PATH"] = os.pathsep.join(d for d in env["PATH"].split(os.pathsep) if not (Path(d) / "pulumi").exists())
    assert shutil.which("pulumi", path=env["PATH"]) is None
    cmd = [str(BIN), "apply", "--env", "prod", "--auto-approve", "-C", str(project)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=240, env=env)
    finally:
        subprocess.run([str(BIN), "server", "--stop", "-C", str(project)], capture_output=True, timeout=60, env=env)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text
    assert "preflight: nothing was run" in text
    assert "the Pulumi CLI is not available" in text and "https://www.pulumi.com/docs/install/" in text
    assert "PULUMI_CONFIG_PASSPHRASE" in text  # every missing prerequisite at once, each with what to set
    actions = re.search(r"apply [\w.]+ on prod: failed \((\d+) skipped\)", text)
    assert actions is not None, text
    db = project / ".modelplane" / "prod-state.db"
    store = StateStore(db)
    assert store.serial("prod") == 0 and not store.applied("prod").nodes
    assert store.ledger("prod") == []
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM catalog").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM notifications").fetchone() == (0,)
    assert not (project / ".modelplane" / "runs").exists()  # no command started


def _weights(router: str) -> dict[str, int]:
    with urllib.request.urlopen(router + "/metrics", timeout=5) as resp:
        text = resp.read().decode()
    return {m[0]: int(m[1]) for m in re.findall(r'modelplane_router_weight\{revision="(\w+)"\} (\d+)', text)}


def test_an_endpoint_without_a_rollout_section_canaries_with_the_default_steps(tmp_path: Path) -> None:
    p = make_pipeline(tmp_path / "p")
    no_rollout = SERVING.replace("PROVIDER", "local").split("  rollout:")[0]
    assert "rollout" not in no_rollout
    (p.root / "specs" / "serving.yaml").write_text(no_rollout)
    try:
        p.run("apply", "--auto-approve", check=True)
        first = p.registry()
        (stable,) = first["revisions"]
        p.edit('version: "1.0.0"', 'version: "1.1.0"')
        apply = p.start("apply", "--auto-approve")
        router = p.router()
        seen: list[dict[str, int]] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # the default canary's first step is 5% (then a 1 minute pause)
            w = _weights(router)
            if len(w) == 2 and w not in seen:
                seen.append(w)
            if len(w) == 2 and w[stable] == 95:
                break
            assert apply.poll() is None, apply.stdout.read() if apply.stdout else ""
            time.sleep(0.1)
        else:
            raise AssertionError(f"no 5% canary on the router: {seen}")
        canary = next(r for r in w if r != stable)
        assert w == {stable: 95, canary: 5}
        # before promotion: the stable revision still serves, the canary is a canary
        roles = {r: rev["role"] for r, rev in p.registry()["revisions"].items()}
        assert roles == {stable: "stable", canary: "canary"}
        p.run("abort", check=True)
        assert apply.wait(timeout=120) == 1
        after = _weights(router)  # rolled back: stable keeps all traffic
        assert after[stable] == 100 and all(w == 0 for r, w in after.items() if r != stable)
    finally:
        p.stop()
