"""The loaded, validated specs of one environment: what the later stages compile."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from modelplane.compiler.errors import Location
from modelplane.compiler.yamlio import SourceMap, decode
from modelplane.specs.base import NodeId
from modelplane.specs.kinds import KIND_MODELS, AnySpecModel
from modelplane.specs.project import Project


@dataclass(slots=True)
class SpecNode:
    """One validated document.

    ``data`` is the normalized document (defaults filled in, JSON types) that
    fingerprints and diffs are computed from; the typed model is built on first
    use, so a warm run that reads normalized data from the cache never pays for
    validating nodes it does not look at.
    """

    id: NodeId
    kind: str
    file: str
    index: int
    data: dict[str, Any]
    _model: AnySpecModel | None = None

    @property
    def name(self) -> str:
        return self.id.name

    @property
    def model(self) -> AnySpecModel:
        if self._model is None:
            self._model = KIND_MODELS[self.kind].model_validate(self.data)
        return self._model

    @property
    def owner(self) -> str:
        return str(self.data["metadata"]["owner"])

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.data["spec"]
        return spec


@dataclass
class SpecSet:
    """All nodes of a project for one environment, in deterministic (id) order."""

    root: Path
    project: Project
    environment: str
    nodes: dict[NodeId, SpecNode]
    files: dict[str, str] = field(default_factory=dict)
    """Relative path -> content hash of every spec file read."""
    source_loader: Any = None
    """Callable(path) -> text, for locating positions (git objects for --base)."""
    _maps: dict[str, SourceMap] = field(default_factory=dict)

    @cached_property
    def fingerprint(self) -> str:
        import hashlib

        h = hashlib.blake2b(digest_size=16)
        h.update(self.environment.encode())
        for path, digest in sorted(self.files.items()):
            h.update(path.encode() + b"\0" + digest.encode())
        return h.hexdigest()

    def source_map(self, file: str) -> SourceMap:
        if file not in self._maps:
            if self.source_loader is not None:
                text = self.source_loader(file)
            else:
                text, _ = decode(file, (self.root / file).read_bytes())
            self._maps[file] = SourceMap(file, text or "")
        return self._maps[file]

    def locate(self, node: SpecNode, path: tuple[str | int, ...], key: bool = False) -> tuple[Location, str | None, int]:
        return self.source_map(node.file).location(node.index, path, key)

    def by_kind(self, kind: str) -> list[SpecNode]:
        return [n for n in self.nodes.values() if n.kind == kind]
