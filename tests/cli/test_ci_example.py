"""The GitHub Actions examples: valid workflows by GitHub's own schema, and their shell steps really work.

The plan step runs the real CLI on a real git history; the comment step runs
against a fake GitHub API on loopback that records what it was asked to do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from check_jsonschema.builtin_schemas import get_builtin_schema

from tests.conftest import EXAMPLES, GitProject

CI = EXAMPLES / "ci"
WORKFLOWS = ("github-actions.yml", "github-actions-comment.yml", "github-actions-apply.yml")


def workflow(name: str) -> dict[Any, Any]:
    doc: dict[Any, Any] = yaml.safe_load((CI / name).read_text())
    doc["on"] = doc.pop(True)  # PyYAML is YAML 1.1: the key `on` reads as true; GitHub reads it as "on"
    return doc


def step(doc: dict[Any, Any], job: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in doc["jobs"][job]["steps"] if s.get("name") == name)
    return found


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **env}
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=full, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_is_valid_by_githubs_schema(name: str) -> None:
    jsonschema.Draft7Validator(get_builtin_schema("vendor.github-workflows")).validate(workflow(name))


@pytest.mark.parametrize("name", WORKFLOWS)
def test_no_expression_is_pasted_into_a_script(name: str) -> None:
    """`${{ }}` inside `run:` is a script injection (a branch name can hold shell); values go through env."""
    for job in workflow(name)["jobs"].values():
        for s in job["steps"]:
            assert "${{" not in s.get("run", ""), s.get("name")


def test_comment_job_never_runs_the_pull_requests_code() -> None:
    doc = workflow("github-actions-comment.yml")
    assert list(doc["on"]) == ["workflow_run"]
    steps = doc["jobs"]["comment"]["steps"]
    assert not any(str(s.get("uses", "")).startswith("actions/checkout") for s in steps)
    assert doc["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert workflow("github-actions.yml")["permissions"] == {"contents": "read"}


@pytest.fixture
def pr_repo(git_example: Callable[[str], GitProject]) -> GitProject:
    """The quickstart with a base branch (as origin/main) and a pull request that bumps the model."""
    gp = git_example("quickstart")
    gp.git("update-ref", "refs/remotes/origin/main", "HEAD")
    model = next(p for p in (gp.root / "specs").rglob("*.yaml") if "kind: Model" in p.read_text())
    text = model.read_text()
    version = next(line for line in text.splitlines() if line.strip().startswith("version:"))
    gp.edit(str(model.relative_to(gp.root)), version, version.rstrip().rstrip('"') + '1"')
    gp.commit("bump the model")
    return gp


def run_plan_step(gp: GitProject, tmp_path: Path, env: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    s = step(workflow("github-actions.yml"), "plan", "Plan against the base branch")
    summary, output = tmp_path / f"summary-{env}", tmp_path / f"output-{env}"
    values = {"PLAN_ENV": env, "BASE_REF": "main", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    assert set(s["env"]) == {"PLAN_ENV", "BASE_REF"}
    return bash(s["run"], gp.root, values), summary, output


def test_plan_step_reports_and_sets_the_exit_status(pr_repo: GitProject, tmp_path: Path) -> None:
    proc, summary, output = run_plan_step(pr_repo, tmp_path, "dev")
    assert proc.returncode == 0, proc.stderr
    report = (pr_repo.root / "report" / "plan.md").read_text()
    assert "model/" in report
    assert summary.read_text() == report
    assert json.loads((pr_repo.root / "report" / "meta.json").read_text()) == {"env": "dev", "exitcode": 2}
    assert "exitcode=2" in output.read_text()
    # the full plan rides along in the artifact; where it was saved is not reported as an error
    assert json.loads((pr_repo.root / "report" / "plan.json").read_text())["format_version"] == 2
    assert "Errors and warnings" not in report
    fail = step(workflow("github-actions.yml"), "plan", "Fail on plan errors")
    assert bash(fail["run"], pr_repo.root, {"CODE": "2"}).returncode == 0
    assert bash(fail["run"], pr_repo.root, {"CODE": "0"}).returncode == 0
    assert bash(fail["run"], pr_repo.root, {"CODE": "1"}).returncode == 1


def test_docs_step_writes_the_explorer_with_the_overlay_for_the_artifact(pr_repo: GitProject, tmp_path: Path) -> None:
    doc = workflow("github-actions.yml")
    s = step(doc, "plan", "Write the lineage explorer with the impact overlay")
    assert set(s["env"]) == {"PLAN_ENV", "BASE_REF"}
    proc = bash(s["run"], pr_repo.root, {"PLAN_ENV": "dev", "BASE_REF": "main"})
    assert proc.returncode == 0, proc.stderr
    site = pr_repo.root / "site"
    assert (site / "index.html").is_file() and (site / "vendor" / "cytoscape.min.js").is_file()
    graph = json.loads(
        (site / "data" / "graph.js").read_text().removeprefix("window.MODELPLANE_GRAPH = ").rstrip(";\n")
    )
    assert graph["overlay"]["changed"] == 1 and graph["overlay"]["against"] == "git origin/main"
    assert any(n.get("changed") == "update" and n["kind"] == "model" for n in graph["nodes"])
    assert (pr_repo.root / "report" / "docs-artifact").read_text().strip() == "modelplane-docs-dev"
    upload = step(doc, "plan", "Upload the lineage explorer")
    assert upload["with"] == {
        "name": "modelplane-docs-${{ matrix.env }}",
        "path": "site/",
        "if-no-files-found": "ignore",
    }


def test_comment_links_the_explorer_artifact_when_it_was_written(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    api, url = fake_github
    write_report(tmp_path, "dev", "dev plan")
    write_report(tmp_path, "prod", "prod plan")
    (tmp_path / "reports" / "modelplane-plan-dev" / "docs-artifact").write_text("modelplane-docs-dev\n")
    proc = run_comment_step(tmp_path, url)
    assert proc.returncode == 0, proc.stderr
    bodies = {b.split(" -->", 1)[0].rsplit("=", 1)[1]: b for _, b in api.writes}
    link = "(https://github.example/acme/specs/actions/runs/4242#artifacts)"
    assert link in bodies["dev"] and "`modelplane-docs-dev` artifact" in bodies["dev"]
    assert link not in bodies["prod"]  # no explorer written for prod: no link to a missing artifact


def test_plan_step_with_invalid_specs_fails_the_job(pr_repo: GitProject, tmp_path: Path) -> None:
    (pr_repo.root / "specs" / "broken.yaml").write_text("apiVersion: modelplane/v1\nkind: Model\nmetadata: {}\n")
    pr_repo.commit("break it")
    proc, _, output = run_plan_step(pr_repo, tmp_path, "dev")
    assert proc.returncode == 0, proc.stderr  # the step records the code; the next step fails the job
    assert "exitcode=1" in output.read_text()
    report = (pr_repo.root / "report" / "plan.md").read_text()
    assert "Errors and warnings" in report and "broken.yaml" in report


class FakeGitHub:
    """Just the endpoints the comment step calls; records every write."""

    def __init__(self, head_sha: str) -> None:
        self.head_sha = head_sha
        self.comments: list[dict[str, Any]] = [
            {"id": 1, "body": "<!-- modelplane-plan-comment env=dev --> forged", "user": {"login": "mallory"}}
        ]
        self.writes: list[tuple[str, str]] = []

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path.startswith("/repos/acme/specs/pulls?"):
            assert "head=fork-owner%3Afeature" in path
            return 200, [{"number": 7, "head": {"sha": self.head_sha}}]
        if method == "GET" and path.startswith("/repos/acme/specs/issues/7/comments?"):
            return 200, self.comments if "page=1" in path else []
        if method == "POST" and path == "/repos/acme/specs/issues/7/comments":
            self.writes.append(("POST", body["body"]))
            self.comments.append({"id": len(self.comments) + 1, "body": body["body"], "user": {"login": "bot"}})
            return 201, self.comments[-1]
        if method == "PATCH" and path.startswith("/repos/acme/specs/issues/comments/"):
            cid = int(path.rsplit("/", 1)[1])
            self.writes.append(("PATCH", body["body"]))
            next(c for c in self.comments if c["id"] == cid)["body"] = body["body"]
            return 200, {}
        return 404, {"message": f"not faked: {method} {path}"}


@pytest.fixture
def fake_github() -> Iterator[tuple[FakeGitHub, str]]:
    api = FakeGitHub(head_sha="abc123")

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            assert self.headers["Authorization"] == "Bearer t0ken"
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            code, answer = api.handle(self.command, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield api, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_comment_step(workdir: Path, url: str) -> subprocess.CompletedProcess[str]:
    s = step(workflow("github-actions-comment.yml"), "comment", "Post or update one comment per environment")
    values = {
        "GITHUB_API_URL": url,
        "GITHUB_REPOSITORY": "acme/specs",
        "GITHUB_TOKEN": "t0ken",
        "HEAD_OWNER": "fork-owner",
        "HEAD_BRANCH": "feature",
        "HEAD_SHA": "abc123",
        "COMMENT_AUTHOR": "bot",
        "RUN_ID": "4242",
        "GITHUB_SERVER_URL": "https://github.example",
    }
    assert set(s["env"]) <= set(values)
    return bash(s["run"], workdir, values)


def write_report(workdir: Path, env: str, text: str) -> None:
    folder = workdir / "reports" / f"modelplane-plan-{env}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "plan.md").write_text(text)
    (folder / "meta.json").write_text(json.dumps({"env": env, "exitcode": 2}))


def test_comment_step_posts_then_updates_one_comment_per_environment(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    api, url = fake_github
    write_report(tmp_path, "dev", "dev plan v1")
    write_report(tmp_path, "prod", "prod plan v1")
    first = run_comment_step(tmp_path, url)
    assert first.returncode == 0, first.stderr
    assert [w[0] for w in api.writes] == ["POST", "POST"]  # the forged marker comment is not ours to edit
    write_report(tmp_path, "dev", "dev plan v2")
    second = run_comment_step(tmp_path, url)
    assert second.returncode == 0, second.stderr
    assert [w[0] for w in api.writes[2:]] == ["PATCH", "PATCH"]
    ours = [c for c in api.comments if c["user"]["login"] == "bot"]
    assert len(ours) == 2
    assert any(c["body"].endswith("dev plan v2") for c in ours)


def test_comment_step_cuts_an_oversized_report_under_githubs_limit(
    fake_github: tuple[FakeGitHub, str], tmp_path: Path
) -> None:
    api, url = fake_github
    write_report(tmp_path, "prod", "x" * 120_000)
    proc = run_comment_step(tmp_path, url)
    assert proc.returncode == 0, proc.stderr
    body = api.writes[-1][1]
    assert len(body) <= 65_536
    assert "modelplane-plan-prod` artifact" in body


def test_comment_step_refuses_a_forged_environment_name(fake_github: tuple[FakeGitHub, str], tmp_path: Path) -> None:
    api, url = fake_github
    write_report(tmp_path, "dev", "plan")
    (tmp_path / "reports" / "modelplane-plan-dev" / "meta.json").write_text(json.dumps({"env": "x -->\n<b>"}))
    proc = run_comment_step(tmp_path, url)
    assert proc.returncode != 0
    assert "not an environment name" in proc.stderr
    assert api.writes == []


def test_the_apply_workflow_applies_the_saved_plan_in_turn_and_honours_the_approval_policy() -> None:
    doc = workflow("github-actions-apply.yml")
    assert doc["on"]["push"]["branches"] == ["main"]
    assert doc["concurrency"]["cancel-in-progress"] is False  # never cancel an apply half way
    job = doc["jobs"]["apply"]
    assert job["strategy"]["max-parallel"] == 1  # dev, then prod
    script = step(doc, "apply", "Apply")["run"]
    assert 'modelplane plan --env "$APPLY_ENV" --out plan.json' in script
    assert "modelplane apply plan.json" in script and "--wait-approvals" in script
    env = step(doc, "apply", "Apply")["env"]
    assert {"MODELPLANE_STATE_URL", "PGPASSWORD", "MODELPLANE_TEMPORAL_ADDRESS", "MODELPLANE_TEMPORAL_API_KEY"} <= set(
        env
    )
    assert all(v.startswith("${{ secrets.") or v.startswith("${{ matrix.") for v in env.values())
