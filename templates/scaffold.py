"""``modelplane init``: render a small valid project from the templates, then write it all at once."""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path

import jinja2

from modelplane.errors import ModelplaneError

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")


def render(name: str, owner: str = "team-ml") -> dict[str, str]:
    """Relative path -> content of every file of a new project (pure)."""
    root = resources.files("modelplane.templates") / "init"
    env = jinja2.Environment(keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    out: dict[str, str] = {}

    def walk(node: resources.abc.Traversable, prefix: str) -> None:
        for child in sorted(node.iterdir(), key=lambda c: c.name):
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif child.name.endswith(".j2"):
                # `gitignore.j2` -> `.gitignore` (a dotfile would not travel in the wheel's package data)
                target = child.name.removesuffix(".j2")
                target = ".gitignore" if target == "gitignore" else target
                out[prefix + target] = env.from_string(child.read_text()).render(name=name, owner=owner)

    walk(root, "")
    out.update(editor_files())
    return out


def editor_files() -> dict[str, str]:
    """The JSON Schemas the spec files' ``# yaml-language-server: $schema=`` modelines name, and the
    VS Code mapping of them onto every spec file (a modeline covers only a file's first document)."""
    import json

    from modelplane.specs.schema import project_schema, spec_schema

    def dump(doc: object) -> str:
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"

    mapping = {"yaml.schemas": {"./schemas/spec.json": "specs/**/*.yaml", "./schemas/project.json": "modelplane.yaml"}}
    return {
        "schemas/spec.json": dump(spec_schema()),
        "schemas/project.json": dump(project_schema()),
        ".vscode/settings.json": json.dumps(mapping, indent=2) + "\n",
    }


def project_name(directory: Path, name: str | None) -> str:
    candidate = name or re.sub(r"[^a-z0-9-]+", "-", directory.resolve().name.lower()).strip("-")
    if not _NAME.match(candidate):
        raise ModelplaneError(
            f"`{candidate}` cannot be a project name",
            hint="pass --name with lower-case letters, digits and `-` (at most 41 characters)",
        )
    return candidate


def scaffold(directory: Path, name: str | None = None) -> list[Path]:
    """Create the project in ``directory`` (absent or empty); nothing is written on error."""
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ModelplaneError(
            f"{directory} already exists and is not empty",
            hint="choose a new folder; modelplane init never overwrites files",
        )
    files = render(project_name(directory, name))
    written: list[Path] = []
    directory.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(content)
        os.replace(tmp, path)
        written.append(path)
    return written
