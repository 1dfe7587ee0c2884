"""Issue 14: what modelplane keeps in a project's `.modelplane/` is its owner's alone (folder 0700, files 0600)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelplane.cli import app
from tests.conftest import EXAMPLES


def test_compile_caches_and_saved_plans_are_private(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "p"
    shutil.copytree(EXAMPLES / "assistant-platform", root, ignore=shutil.ignore_patterns(".modelplane"))
    (root / ".modelplane").mkdir(mode=0o755)  # as an earlier version left it
    (root / ".modelplane").chmod(0o755)
    runner = CliRunner()
    assert runner.invoke(app, ["validate", "-C", str(root)]).exit_code == 0
    assert runner.invoke(app, ["plan", "-C", str(root), "--env", "prod"]).exit_code in (0, 2)
    folder = root / ".modelplane"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert any(p.name.startswith("specs-") for p in files) and any(p.name.startswith("graph-") for p in files)
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files if p.stat().st_mode & 0o077} == {}


def test_atomic_write_of_parts_writes_them_in_order_whole_and_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caches hand their documents' JSON over as parts (``writev``, no joined copy); more parts than one
    ``writev`` takes, empty ones, and a short write all still give the parts joined, in a 0600 file."""
    import os

    from modelplane import files

    parts = [b"{}", b"", *(f'{{"n":{i}}}'.encode() for i in range(2500)), b"\n"]
    target = tmp_path / ".modelplane" / "cache" / "x.json"
    files.atomic_write(target, parts)
    assert target.read_bytes() == b"".join(parts)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600

    real = os.writev

    def short(fd: int, buffers: list[bytes]) -> int:  # as a full disk or a signal may leave it: 3 bytes short
        return real(fd, [b"".join(buffers)[:-3]])

    monkeypatch.setattr(os, "writev", short)
    files.atomic_write(target, parts[::-1])
    assert target.read_bytes() == b"".join(parts[::-1])
