"""Scan stage: read the project file and find every spec file and its content hash, parsing nothing.

The scan's fingerprint identifies a compile's whole input, so anything keyed by
it (the validation verdict, the compiled graph) is reused without parsing. On
disk, a stat index (size, mtime, inode -> content hash, the way git's index
works) means unchanged files are not even read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from pydantic import ValidationError

from modelplane.compiler.source.files import FileSource, Source, unreadable
from modelplane.compiler.source.inputs import PROJECT_FILE_MAX_BYTES, ScanRecipe, digest, fingerprint, read_inputs
from modelplane.compiler.source.inputs import find_root as find_root  # re-exported: callers find a project here
from modelplane.compiler.source.yamlio import decode, parse
from modelplane.compiler.timings import timed
from modelplane.errors import Diagnostic, Location, SpecError, did_you_mean
from modelplane.specs.base import build_in_order
from modelplane.specs.project import PROJECT_FILE, Project

PROJECT_ALIAS_EVENTS = 10_000


def _project_error(code: str, message: str, hint: str) -> SpecError:
    # no-project has no file to point at; the others are about the project file as a whole
    return SpecError(
        Diagnostic(
            code=code, message=message, location=None if code == "no-project" else Location(PROJECT_FILE), hint=hint
        )
    )


def load_project_file(source: Source) -> tuple[Project, str]:
    """The validated project file and the hash of its bytes."""
    if not source.exists(PROJECT_FILE):
        raise _project_error(
            "no-project", f"no {PROJECT_FILE} in the {source.label}", "run `modelplane init DIR` to create one"
        )
    try:
        raw = source.read_limited(PROJECT_FILE, PROJECT_FILE_MAX_BYTES)
    except OSError as exc:
        raise SpecError(unreadable(PROJECT_FILE, exc)) from None
    if raw is None:
        raise _project_error(
            "file-too-large",
            f"{PROJECT_FILE} is over the limit of {PROJECT_FILE_MAX_BYTES:,} bytes",
            "keep the project file small: large settings belong in spec files",
        )
    text, problem = decode(PROJECT_FILE, raw)
    if problem:
        raise SpecError(problem)
    assert text is not None
    parsed = parse(PROJECT_FILE, text, PROJECT_ALIAS_EVENTS)
    if parsed.errors:
        raise SpecError(parsed.errors)
    data = parsed.documents[0] if parsed.documents else None
    if not isinstance(data, dict):
        raise _project_error(
            "invalid-project",
            f"{PROJECT_FILE} must be a mapping with at least `name:`",
            "see `modelplane init` for an example",
        )
    build_in_order(Project)  # its settings' models first: their defaults are made by the models themselves
    try:
        project = Project.model_validate(data)
    except ValidationError as exc:
        from modelplane.compiler.load.validate import diagnostics_for
        from modelplane.compiler.source.positions import SourceMap

        raise SpecError(diagnostics_for(exc, data, Project, SourceMap(PROJECT_FILE, text), 0, False)) from None
    return project, digest(raw)


@dataclass
class Scan:
    """What a compile reads before parsing anything: the project file and the bytes of every spec file.

    Its ``fingerprint`` identifies the compile's whole input, so results keyed by
    it (the validation verdict, the compiled graph) can be reused without parsing.
    """

    root: Path
    source: Source
    project: Project
    project_hash: str
    environment: str
    hashes: dict[str, str]
    problems: list[Diagnostic]
    profile_hashes: dict[str, str] = field(default_factory=dict)
    """Capacity profiles (``profiles/**/*.json``): the capacity checks read them, so they are input too."""
    _contents: dict[str, bytes] = field(default_factory=dict)

    def content(self, path: str) -> bytes:
        """The bytes of a spec file (read now if the stat index let the scan skip it)."""
        if path not in self._contents:
            self._contents[path] = self.source.read(path)
        return self._contents[path]

    @cached_property
    def fingerprint(self) -> str:
        return fingerprint(self.environment, self.project_hash, self.hashes, self.profile_hashes)

    @property
    def recipe(self) -> ScanRecipe:
        return recipe_of(self.project)


def recipe_of(project: Project) -> ScanRecipe:
    return ScanRecipe(list(project.specs), project.limits.max_file_bytes, project.profiles)


@timed("scan")
def scan(root: Path, env: str | None = None, source: Source | None = None) -> Scan:
    """Read the project file and every spec file's bytes (no parsing)."""
    source = source or FileSource(root)
    project, project_hash = load_project_file(source)
    env_name = project.env_name(env)
    if env_name not in project.environments:
        raise SpecError(
            Diagnostic(
                code="unknown-environment",
                message=f"no environment `{env_name}` in {PROJECT_FILE}",
                location=Location(PROJECT_FILE),
                hint=did_you_mean(env_name, project.environments, "environments"),
            )
        )
    found = read_inputs(source, recipe_of(project))
    return Scan(
        root,
        source,
        project,
        project_hash,
        env_name,
        found.hashes,
        found.problems,
        found.profile_hashes,
        found.contents,
    )
