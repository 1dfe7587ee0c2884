"""A non-editable install works: build the wheel, install it into a fresh virtual environment, use it.

Editable installs (what `make test` uses) resolve `modelplane.*` through the
package-dir mapping on the fly, so a subpackage or template the package list
leaves out still imports there; only a real wheel shows it. To stay fast the
wheel is built without its dependencies and the fresh environment sees them
through a `.pth` line naming this environment's site-packages. A `.pth` path is
not a site directory, so this environment's own `.pth` files (the editable
finder among them) are not run: `modelplane` can only come from the wheel, and
the test checks that it does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO

pytestmark = pytest.mark.integration

# setuptools' warning classes print as e.g. `_Warning:` or `SetuptoolsDeprecationWarning:`
SETUPTOOLS_WARNING = re.compile(r"\w*Warning: .*|Package would be ignored")


def _package_dirs() -> dict[str, str]:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return mapping


def _source_files() -> list[Path]:
    """What a build sees: tracked and untracked-but-not-ignored files (a new module counts before its commit)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, check=True
        ).stdout
        files = [REPO / f for f in out.decode().split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "dist", ".modelplane", "__pycache__"}
        files = [p for p in REPO.rglob("*") if p.is_file() and not skip & set(p.relative_to(REPO).parts)]
    return [f for f in files if f.is_file()]


def _shipped(files: list[Path]) -> dict[str, Path]:
    """Every file under a mapped root, by the path it must have in the wheel (``modelplane/compiler/plan.py``)."""
    out = {}
    for package, folder in _package_dirs().items():
        root = REPO / folder
        for f in files:
            if f.is_relative_to(root) and "__pycache__" not in f.parts:
                out[str(Path(*package.split(".")) / f.relative_to(root))] = f
    return out


def _modules(shipped: dict[str, Path]) -> list[str]:
    names = []
    for path in shipped:
        if path.endswith(".py") and not path.endswith("__main__.py"):
            names.append(path.removesuffix(".py").removesuffix("/__init__").replace("/", "."))
    return sorted(names)


def test_the_wheel_ships_every_module_and_template_and_its_cli_runs(tmp_path: Path) -> None:
    files = _source_files()
    src = tmp_path / "src"
    for f in files:  # a clean copy: no build/ or egg-info left over from an earlier build can leak in
        dest = src / f.relative_to(REPO)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", str(src), "-w", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    warnings = sorted({m.group(0) for m in SETUPTOOLS_WARNING.finditer(built.stdout + built.stderr)})
    assert warnings == [], f"setuptools warns while building the wheel: {warnings}"
    (wheel,) = (tmp_path / "dist").glob("modelplane-*.whl")

    shipped = _shipped(files)
    assert "modelplane/runtime/local/router.py" in shipped and "modelplane/templates/reports/plan.md.j2" in shipped
    in_wheel = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(set(shipped) - in_wheel)
    assert missing == [], f"the wheel leaves out {missing}"

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    (purelib / "zz_dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}

    modules = _modules(shipped)
    probe = (
        "import importlib, json, sys\n"
        "print(json.dumps({m: importlib.import_module(m).__file__ for m in sys.argv[1:]}))\n"
    )
    imported = subprocess.run(
        [str(python), "-c", probe, *modules], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert imported.returncode == 0, imported.stderr[-3000:]
    where = json.loads(imported.stdout)
    outside = {m: f for m, f in where.items() if not Path(f).resolve().is_relative_to(purelib.resolve())}
    assert outside == {}, f"imported from outside the wheel's install: {outside}"
    assert len(where) == len(modules) > 40

    project = tmp_path / "assistant-platform"
    shutil.copytree(EXAMPLES / "assistant-platform", project)
    cli = str(venv / "bin" / "modelplane")

    def run(*args: str) -> str:
        proc = subprocess.run([cli, *args, "-C", str(project)], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, f"modelplane {' '.join(args)} exit {proc.returncode}:\n{proc.stderr[-3000:]}"
        return proc.stdout

    assert "valid" in run("validate", "--env", "prod")
    markdown = run("plan", "--env", "prod", "--format", "markdown")
    assert markdown.startswith("## modelplane plan · `prod`") and "<!-- modelplane-plan-comment -->" in markdown
    preview = run("stack", "preview", "prod-gpu", "--env", "prod")
    assert preview.startswith("stack/prod-gpu (") and "kubernetes:apps/v1:Deployment" in preview
