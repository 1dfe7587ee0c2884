"""A compile's input as bytes and hashes: the spec files a project's globs name, their content hashes and
the fingerprint over them. Nothing here parses YAML or imports the spec models (pydantic).

``scan.scan`` validates the project file and then reads the files through ``read_inputs``. The warm
``plan --base`` path (``modelplane.quick``) reads them the same way without validating anything: the
plan memo keeps, per project-file hash, what the validated project said (``ScanRecipe``), so equal
bytes give the equal recipe, the same files, and so the same key the CLI would compute.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from modelplane import __version__
from modelplane.compiler.source.files import Source, unreadable
from modelplane.errors import Diagnostic, Location, SpecError
from modelplane.files import PROJECT_FILE

PROJECT_FILE_MAX_BYTES = 1_048_576
"""The project file's own size limit (its `limits:` cannot govern the file that declares them)."""


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def find_root(start: Path) -> Path:
    """The nearest directory at or above ``start`` holding a modelplane.yaml."""
    start = start.resolve()
    for d in (start, *start.parents):
        if (d / PROJECT_FILE).is_file():
            return d
    raise SpecError(
        Diagnostic(
            code="no-project",
            message=f"no {PROJECT_FILE} found in {start} or any parent directory",
            hint="run `modelplane init DIR` to create a project, or pass --project DIR",
        )
    )


@dataclass(frozen=True)
class ScanRecipe:
    """What a scan needs from the validated project file: where specs and profiles are, the size limit."""

    specs: list[str]
    max_file_bytes: int
    profiles: str


@dataclass
class Inputs:
    """What a scan read: every spec file's content hash, the problems found, the profiles' hashes and the bytes read."""

    hashes: dict[str, str]
    problems: list[Diagnostic]
    profile_hashes: dict[str, str]
    contents: dict[str, bytes] = field(default_factory=dict)


def fingerprint(environment: str, project_hash: str, hashes: dict[str, str], profile_hashes: dict[str, str]) -> str:
    """Identifies a compile's whole input: the code's version, the environment, the project file and every
    spec file and capacity profile by content."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{__version__}\0{environment}\0{project_hash}\0".encode())
    for path, key in sorted(hashes.items()):
        h.update(f"{path}\0{key}\n".encode())
    for path, key in sorted(profile_hashes.items()):
        h.update(f"profile\0{path}\0{key}\n".encode())
    return h.hexdigest()


def read_inputs(source: Source, recipe: ScanRecipe) -> Inputs:
    """Every spec file's content hash (the stat index spares reading unchanged files) and the problems that
    kept a file out."""
    problems: list[Diagnostic] = []
    paths = [p for p in source.glob(recipe.specs, problems) if p != PROJECT_FILE]
    if not paths and not problems:
        hint = "put specs under the folders named by `specs:` in modelplane.yaml, or change that list"
        where = Location(PROJECT_FILE)
        problems.append(Diagnostic("no-specs", f"no spec files match {', '.join(recipe.specs)}", where, hint))
    contents: dict[str, bytes] = {}
    hashes: dict[str, str] = {}
    limit = recipe.max_file_bytes
    known = source.known_hashes(paths, limit)
    prefetch = getattr(source, "prefetch", None)
    if prefetch is not None:
        prefetch([p for p in paths if p not in known and source.size(p) <= limit])
    for path in paths:
        if path in known:
            hashes[path] = known[path]
            continue
        try:
            raw = source.read_limited(path, limit)
        except SpecError as exc:  # a path the source refuses to read (a link that left the project)
            problems.extend(exc.diagnostics)
            continue
        except OSError as exc:  # removed, or its permissions changed, since the listing
            problems.append(unreadable(path, exc))
            continue
        if raw is None:
            problems.append(
                Diagnostic(
                    code="file-too-large",
                    message=f"spec file is {source.size(path):,} bytes, over the limit of {limit:,}",
                    location=Location(path),
                    hint="split it into several files, or raise `limits.max_file_bytes` in modelplane.yaml",
                )
            )
            continue
        contents[path] = raw
        hashes[path] = digest(raw)
    source.remember_hashes(hashes)
    return Inputs(hashes, problems, _profile_hashes(source, recipe.profiles), contents)


def _profile_hashes(source: Source, folder: str) -> dict[str, str]:
    """Digests of the capacity profiles (their problems are the capacity check's to report)."""
    out = {}
    for path in source.glob([f"{folder.strip('/')}/**/*.json"], []):
        try:
            out[path] = digest(source.read(path))
        except (OSError, SpecError):
            out[path] = "unreadable"
    return out
