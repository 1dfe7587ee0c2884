"""The scan reads only what is safely inside the project: hostile trees are diagnostics, never tracebacks.

Every case runs the real CLI in-process with `--format json` (validate and
plan) and checks the exit code, the JSON and that the diagnostic names the
path and says how to fix it. Links to secrets outside the project are never
read: the secret's bytes appear in no output, text or JSON, working tree or
`plan --base` (a symlink committed to git).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from modelplane.compiler.source.files import MAX_FOLDER_DEPTH, FileSource, GitSource
from modelplane.errors import Diagnostic
from tests.conftest import EXAMPLES, GIT_ENV, GitProject

SECRET = "aws_secret_access_key = wJalrXUtnFEMI-NOT-A-REAL-KEY-7f3a9c"
runner = CliRunner()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    return root


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "home" / ".aws" / "credentials"
    path.parent.mkdir(parents=True)
    path.write_text(f"[default]\n{SECRET}\n")
    return path


def run(root: Path, *args: str, fmt: str = "json") -> tuple[int, str]:
    result = runner.invoke(app, [*args, "-C", str(root), "--format", fmt])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def errors_of(root: Path, *args: str) -> list[dict[str, Any]]:
    """The JSON errors of a failing `validate` and `plan`, which must agree."""
    found = []
    for command in (["validate"], ["plan", "--no-cache"]):
        code, out = run(root, *command, *args)
        assert code == 1, out
        payload = json.loads(out)
        assert payload["ok"] is False
        found.append(payload["errors"])
    assert found[0] == found[1]
    errors: list[dict[str, Any]] = found[0]
    for err in errors:
        assert err["file"] and err["hint"], err
    return errors


def codes(errors: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["code"], e["file"]) for e in errors]


def git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)


def test_link_to_a_secret_outside_the_project_is_an_error_and_never_read(project: Path, secret_file: Path) -> None:
    os.symlink(secret_file, project / "specs" / "x.yaml")
    errors = errors_of(project)
    assert codes(errors) == [("symlink-outside-project", "specs/x.yaml")]
    assert "outside the project root" in errors[0]["message"]
    for fmt in ("text", "json"):
        for command in ("validate", "plan"):
            _, out = run(project, command, fmt=fmt)
            assert "wJalrXUtnFEMI" not in out and "aws_secret" not in out


def test_git_symlink_blob_to_outside_is_the_same_error_for_plan_base(
    project: Path, secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_identity(monkeypatch)
    gp = GitProject(project)
    (project / ".gitignore").write_text(".modelplane/\n")
    gp.git("init", "-q", "-b", "main")
    os.symlink(secret_file, project / "specs" / "x.yaml")
    gp.commit("a pull request adds a link")
    (project / "specs" / "x.yaml").unlink()  # the working tree is clean: only the ref has the link
    source = GitSource.for_project(project, "HEAD")
    problems: list[Diagnostic] = []
    paths = source.glob(["specs/**/*.yaml"], problems)
    source.close()
    assert "specs/x.yaml" not in paths and "specs/data.yaml" in paths
    assert [(d.code, d.location.file if d.location else None) for d in problems] == [
        ("symlink-outside-project", "specs/x.yaml")
    ]
    for fmt in ("text", "json"):
        code, out = run(project, "plan", "--base", "HEAD", fmt=fmt)
        assert code == 1
        assert "symlink-outside-project" in out or "outside the project root" in out
        assert "wJalrXUtnFEMI" not in out


def test_git_symlink_inside_the_project_reads_its_target_like_the_working_tree(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    git_identity(monkeypatch)
    (project / "shared").mkdir()
    shutil.move(project / "specs" / "data.yaml", project / "shared" / "data.yaml")
    os.symlink("../shared/data.yaml", project / "specs" / "data.yaml")
    gp = GitProject(project)
    (project / ".gitignore").write_text(".modelplane/\n")
    gp.git("init", "-q", "-b", "main")
    gp.commit("specs through an in-project link")
    assert run(project, "validate")[0] == 0
    code, out = run(project, "plan", "--base", "HEAD", "--detailed-exitcode")
    assert code == 0, out  # both sides read the same target: no changes
    assert json.loads(out)["changes"] == []


def test_link_to_the_filesystem_root_is_not_walked(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    os.symlink("/", project / "specs" / "root")
    listed = record_scandir(monkeypatch)
    assert codes(errors_of(project)) == [("symlink-outside-project", "specs/root")]
    assert all(not p.startswith("/proc") and "specs/root" not in p for p in listed)


def test_symlink_loops_are_diagnostics(project: Path) -> None:
    os.symlink("b.yaml", project / "specs" / "a.yaml")
    os.symlink("a.yaml", project / "specs" / "b.yaml")
    os.symlink("loop", project / "specs" / "loop")  # a folder-like name, pointing at itself
    errors = errors_of(project)
    assert codes(errors) == [
        ("symlink-loop", "specs/a.yaml"),
        ("symlink-loop", "specs/b.yaml"),
        ("symlink-loop", "specs/loop"),
    ]


def test_proc_files_fifos_and_devices_are_not_read(project: Path) -> None:
    os.symlink("/proc/self/status", project / "specs" / "proc.yaml")
    os.symlink("/dev/zero", project / "specs" / "zero.yaml")
    os.mkfifo(project / "specs" / "fifo.yaml")  # reading it would block forever
    errors = errors_of(project)
    assert codes(errors) == [
        ("not-a-regular-file", "specs/fifo.yaml"),
        ("symlink-outside-project", "specs/proc.yaml"),
        ("symlink-outside-project", "specs/zero.yaml"),
    ]


def test_non_utf8_file_and_folder_names_are_diagnostics(project: Path) -> None:
    bad = os.fsdecode(b"bad\xff.yaml")
    (project / "specs" / bad).write_text("a: 1\n")
    (project / "specs" / os.fsdecode(b"dir\xfe")).mkdir()
    errors = errors_of(project)
    assert codes(errors) == [("non-utf8-name", "specs/bad\\xff.yaml"), ("non-utf8-name", "specs/dir\\xfe")]
    assert "rename" in errors[0]["hint"]


def test_unreadable_file_and_folder_are_diagnostics(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Permissions do not stop root (these tests may run as root), so the kernel's refusal is
    injected at the system call the scan makes; the chmod variant below runs where it can."""
    (project / "specs" / "secret.yaml").write_text("a: 1\n")
    (project / "specs" / "locked").mkdir()
    real_open, real_scandir = os.open, os.scandir

    def deny_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if str(path).endswith("secret.yaml"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    def deny_scandir(path: Any = ".") -> Any:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "open", deny_open)
    monkeypatch.setattr(os, "scandir", deny_scandir)
    errors = errors_of(project)
    assert codes(errors) == [("unreadable-folder", "specs/locked"), ("unreadable-file", "specs/secret.yaml")]
    assert "Permission denied" in errors[1]["message"] and "permissions" in errors[1]["hint"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_by_mode(project: Path) -> None:
    path = project / "specs" / "secret.yaml"
    path.write_text("a: 1\n")
    path.chmod(0)
    try:
        assert codes(errors_of(project)) == [("unreadable-file", "specs/secret.yaml")]
    finally:
        path.chmod(0o644)


def deep_tree(base: Path, levels: int) -> None:
    """``levels`` nested folders, made one at a time relative to the last (paths grow past PATH_MAX)."""
    fd = os.open(base, os.O_RDONLY)
    try:
        for _ in range(levels):
            os.mkdir("d", dir_fd=fd)
            nxt = os.open("d", os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)


def remove_deep_tree(top: Path) -> None:
    # shutil.rmtree recurses once per level; go down, then delete bottom-up, iteratively
    fds = [os.open(top, os.O_RDONLY)]
    while "d" in os.listdir(fds[-1]):
        fds.append(os.open("d", os.O_RDONLY, dir_fd=fds[-1]))
    while len(fds) > 1:
        os.close(fds.pop())
        for name in os.listdir(fds[-1]):
            if name != "d":
                os.unlink(name, dir_fd=fds[-1])
        os.rmdir("d", dir_fd=fds[-1])
    os.close(fds[0])
    top.rmdir()


@pytest.fixture
def thousand_levels(project: Path) -> Iterator[Path]:
    top = project / "specs" / "d"
    top.mkdir()
    deep_tree(top, 999)
    yield top
    remove_deep_tree(top)


def test_a_thousand_nested_folders_are_one_diagnostic(project: Path, thousand_levels: Path) -> None:
    errors = errors_of(project)
    assert [e["code"] for e in errors] == ["folder-too-deep"]
    assert errors[0]["file"] == "specs/" + "/".join(["d"] * MAX_FOLDER_DEPTH)
    assert "flatten" in errors[0]["hint"]


def record_scandir(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    listed: list[str] = []
    real = os.scandir

    def spy(path: Any = ".") -> Any:
        listed.append(os.fspath(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", spy)
    return listed


def test_only_the_globs_static_prefixes_are_walked(
    project: Path, monkeypatch: pytest.MonkeyPatch, thousand_levels: Path
) -> None:
    """Hostile things outside every glob's reach (a loop, a fifo, a deep tree, a link to /) are
    never looked at: the walk starts at `specs/` and stays where the globs can match."""
    shutil.move(thousand_levels, project / "elsewhere")
    thousand_levels.mkdir()  # the fixture's cleanup removes it; the deep tree now lies outside specs/
    (project / "scratch").mkdir()
    os.symlink("/", project / "scratch" / "root")
    os.symlink("loop", project / "scratch" / "loop")
    os.mkfifo(project / "scratch" / "fifo.yaml")
    (project / "specs" / "notes").mkdir()
    (project / "specs" / "notes" / "x.txt").write_text("not a spec")
    listed = record_scandir(monkeypatch)
    code, out = run(project, "validate")
    assert code == 0, out
    # only the project's folders, each once (validate scans every environment; package data may list its own)
    walked = sorted({r for p in listed if not (r := os.path.relpath(p, project)).startswith("..")})
    assert walked == ["specs", "specs/d", "specs/notes"]
    remove_deep_tree(project / "elsewhere")


def test_a_glob_without_double_star_does_not_descend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "p"
    (root / "specs" / "ml" / "deeper").mkdir(parents=True)
    (root / "specs" / "other").mkdir()
    listed = record_scandir(monkeypatch)
    problems: list[Diagnostic] = []
    assert FileSource(root).glob(["specs/ml/*.yaml"], problems) == []
    assert problems == []
    assert [os.path.relpath(p, root) for p in listed] == ["specs/ml"]


def test_in_project_file_links_are_followed(project: Path) -> None:
    (project / "shared").mkdir()
    shutil.move(project / "specs" / "data.yaml", project / "shared" / "data.yaml")
    os.symlink("../shared/data.yaml", project / "specs" / "data.yaml")
    code, out = run(project, "validate")
    assert code == 0, out


def test_folder_links_are_diagnostics(project: Path) -> None:
    (project / "shared").mkdir()
    os.symlink("../shared", project / "specs" / "shared")
    assert codes(errors_of(project)) == [("symlinked-folder", "specs/shared")]


def test_project_file_link_outside_and_oversized_project_file(project: Path, secret_file: Path, tmp_path: Path) -> None:
    (project / "modelplane.yaml").unlink()
    os.symlink(secret_file, project / "modelplane.yaml")
    code, out = run(project, "validate")
    assert code == 1
    err = json.loads(out)["errors"][0]
    assert (err["code"], err["file"]) == ("symlink-outside-project", "modelplane.yaml")
    assert "wJalrXUtnFEMI" not in out
    big = tmp_path / "big"
    big.mkdir()
    (big / "modelplane.yaml").write_text("name: demo\n" + "# padding\n" * 120_000)
    code, out = run(big, "validate")
    assert code == 1
    assert json.loads(out)["errors"][0]["code"] == "file-too-large"
