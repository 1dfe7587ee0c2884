"""Secrets that never leak: a real apply on the local stack (real Temporal dev server, worker, router and
replica processes) with an endpoint and a workflow command that reference ``${secret.NAME}``.

The replica and the command get the values; no file under ``.modelplane/`` (state.db and its WAL,
temporal.db, caches, run logs, the local registry and process logs), the saved plan, nor any CLI output
holds either value, while the references are there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.pipeline import Pipeline, make_pipeline

pytestmark = pytest.mark.integration

SERVE_KEY = "sv-key-5d1f0c9e7b3a4f62"
TRAIN_TOKEN = "tr-tok-83a6b2e4d0c9f175"

RECORD = """\
import json, os, sys
out, flag, token = sys.argv[1:4]
json.dump({"argv": token, "env": os.environ.get("MP_SECRET_TRAIN_TOKEN"),
           "sources": sorted(k for k in os.environ if k.startswith("MODELPLANE_SECRET_"))}, open(out, "w"))
print("prep ran with", flag, "of", len(token), "characters")  # what a careful command logs
"""


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Pipeline]:
    p = make_pipeline(tmp_path / "p", serving=True)
    (p.root / "scripts" / "record.py").write_text(RECORD)
    got = tmp_path / "got-prep.json"  # outside the project: where the command says what it was given
    p.edit(
        'command: ["python3", "scripts/step.py", "prep"]',
        f'command: ["python3", "scripts/record.py", "{got}", "--token", "${{secret.TRAIN_TOKEN}}"]',
    )
    p.edit(
        "    simulator: {ttft_ms: 10, tpot_ms: 1}",
        "    simulator: {ttft_ms: 10, tpot_ms: 1}\n    extra_args: {api-key: '${secret.SERVE_KEY}'}",
        file="specs/serving.yaml",
    )
    try:
        yield p
    finally:
        p.stop()


def _replica_environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0") if item)


def test_secrets_reach_the_replica_and_the_command_and_nothing_else(project: Pipeline, tmp_path: Path) -> None:
    p = project
    outputs: list[str] = []

    def run(*args: str, ok: bool = True, timeout: float = 240) -> str:
        out = p.run(*args, timeout=timeout)
        text = out.stdout + out.stderr
        outputs.append(text)
        if ok:
            assert out.returncode in (0, 2), f"modelplane {' '.join(args)}:\n{text}"
        return text

    secrets = {"MODELPLANE_SECRET_SERVE_KEY": SERVE_KEY, "MODELPLANE_SECRET_TRAIN_TOKEN": TRAIN_TOKEN}
    p.env = dict(secrets)
    assert "credential-in-spec" not in run("validate")
    run("apply", "--auto-approve")  # creates: the endpoint rolls out with its key (workflows run on change)

    # new raw data: prep must run, and the worker has no TRAIN_TOKEN: the preflight stops it, nothing runs
    p.edit('version: "1"', 'version: "2"')
    run("server", "--stop")  # the embedded worker keeps the environment it started with
    p.env = {"MODELPLANE_SECRET_SERVE_KEY": SERVE_KEY}
    before = p.effects()
    text = run("apply", "--auto-approve", ok=False)
    assert "preflight: nothing was run" in text, text
    assert "`TRAIN_TOKEN`" in text and "MODELPLANE_SECRET_TRAIN_TOKEN" in text and "workflow/prep" in text
    assert p.effects() == before and not (tmp_path / "got-prep.json").exists()
    run("server", "--stop")

    p.env = dict(secrets)
    planfile = tmp_path / "plan.json"
    run("plan", "--out", str(planfile))
    markdown = run("plan", "--format", "markdown")
    report = run("plan", "--format", "json")
    assert "run-workflow:workflow/prep" in markdown + report
    run("apply", str(planfile), "--auto-approve")
    run("status")
    run("history")

    # the command got its value (argv and MP_SECRET_*), and no other secret source
    got = json.loads((tmp_path / "got-prep.json").read_text())
    assert got == {"argv": TRAIN_TOKEN, "env": TRAIN_TOKEN, "sources": []}
    # every replica got its value in its environment, not its command line
    reg = p.registry()
    (rev,) = reg["revisions"].values()
    assert rev["replicas"] and rev["secrets"] == {"SERVE_KEY": {}}
    for replica in rev["replicas"]:
        env = _replica_environ(replica["pid"])
        assert env.get("MP_SECRET_SERVE_KEY") == SERVE_KEY
        assert "MODELPLANE_SECRET_SERVE_KEY" not in env and "MP_SECRET_TRAIN_TOKEN" not in env
        cmdline = Path(f"/proc/{replica['pid']}/cmdline").read_bytes()
        assert SERVE_KEY.encode() not in cmdline

    # nothing written holds either value; the references are what is stored
    files = [f for f in (p.root / ".modelplane").rglob("*") if f.is_file()] + [planfile]
    assert any(f.name.startswith("temporal.db") for f in files) and any(f.name.startswith("state.db") for f in files)
    for f in files:
        data = f.read_bytes()
        for value in (SERVE_KEY, TRAIN_TOKEN):
            assert value.encode() not in data, f"{value} in {f}"
    for text in outputs:
        assert SERVE_KEY not in text and TRAIN_TOKEN not in text
    plan_text = planfile.read_text()
    assert "${secret.TRAIN_TOKEN}" in plan_text  # the second plan does not touch the endpoint
    stored = b"".join(f.read_bytes() for f in files if f.name.startswith("state.db"))
    assert b"${secret.TRAIN_TOKEN}" in stored and b"${secret.SERVE_KEY}" in stored
    log = next(f for f in files if f.name.startswith("attempt-") and "prep" in str(f))
    assert "${secret.TRAIN_TOKEN}" in log.read_text()  # the run log shows the reference
