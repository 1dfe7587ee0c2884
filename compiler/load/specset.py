"""The loaded, validated specs of one environment: what the later stages compile."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.compiler.source.positions import SourceMap
from modelplane.compiler.source.yamlio import decode
from modelplane.errors import Location
from modelplane.specs.base import NodeId
from modelplane.specs.project import Project

if TYPE_CHECKING:
    from modelplane.specs.kinds.union import AnySpecModel
    from modelplane.specs.refs import FoundRef


@dataclass(slots=True)
class SpecNode:
    """One validated document.

    ``data`` is the document's normalized value (``specs.base.normalize``):
    every default filled in, every value coerced to its field's type, keys as
    written (aliases), plain JSON types. Every later stage reads it, or the
    typed ``model``, never the YAML as written; source positions stay with the
    ``SourceMap`` of the node's file. A key the model declares is always there
    (``spec["blocking"]``, not ``spec.get("blocking", True)``).

    The typed model is built on first use, so a warm run that reads documents
    from the cache never validates nodes it does not look at. Documents that
    failed validation (kept only to answer references) are as written.
    """

    id: NodeId
    kind: str
    file: str
    index: int
    _data: dict[str, Any] | bytes
    """The normalized document, or its JSON (parsed on first use): as the loader or a forked child serialized it,
    or as the spec cache or the graph cache kept it."""
    _model: AnySpecModel | None = None
    _json: bytes | None = None
    """``data`` as JSON, where the loader already serialized it (for the spec cache)."""
    own: tuple[str, str] | None = None
    """The document's own (spec, metadata) hashes, where already known (``fingerprint.own_of``)."""
    refs: list[FoundRef] | None = None
    """The references it makes, where a forked child found them in the model it built (``references.node_refs``)."""

    @property
    def json(self) -> bytes:
        """The normalized document as JSON (what the caches store), serialized at most once."""
        if self._json is None:
            if isinstance(self._data, bytes):
                self._json = self._data
            else:
                import orjson

                self._json = orjson.dumps(self._data)
        return self._json

    @property
    def data(self) -> dict[str, Any]:
        if isinstance(self._data, bytes):
            import orjson

            self._data = orjson.loads(self._data)
        assert isinstance(self._data, dict)
        return self._data

    @property
    def has_model(self) -> bool:
        """Whether the typed model is already built (reading ``model`` otherwise validates)."""
        return self._model is not None

    def spec_field(self, *path: str) -> Any:
        """A value of ``spec`` (``("resources", "accelerator")`` for one inside a block) by names that are both
        their fields' and their keys in the document: from the typed model where this process built it, else the
        normalized document (the same value: the document is that model serialized). Ask for values, not blocks (a
        block is a model on one side and a mapping on the other). A rule reading a few values of every node this way
        decodes no document."""
        if self._model is not None:
            value: Any = self._model.spec
            for name in path:
                value = getattr(value, name)
            return value
        value = self.spec
        for name in path:
            value = value[name]
        return value

    @property
    def name(self) -> str:
        return self.id.name

    @property
    def model(self) -> AnySpecModel:
        if self._model is None:
            from modelplane.specs.base import model_class

            self._model = model_class(self.kind).model_validate(self.data)  # type: ignore[assignment]
        assert self._model is not None
        return self._model

    def normalized(self) -> dict[str, Any]:
        """The normalized document (``data``); kept for callers that predate it."""
        return self.data

    @property
    def owner(self) -> str:
        if self._model is not None:  # as ``spec_field``: no document decoded for it (a plan reads every owner)
            return self._model.metadata.owner
        return str(self.data["metadata"]["owner"])

    @property
    def spec(self) -> dict[str, Any]:
        """The normalized ``spec`` mapping: every field of the kind's spec model is a key."""
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
    fingerprint: str = ""
    """Identifies the whole input (files, project file, environment, modelplane version)."""
    links: list[Any] | None = None
    """Resolved references (``references.Link``), filled in by the loader."""
    source_loader: Any = None
    """Callable(path) -> text, for locating positions (git objects for --base)."""
    source_maps: dict[str, SourceMap] = field(default_factory=dict)
    """Positions per file: filled by the loader from the texts it parsed, else on first ``locate``."""
    _kinds: dict[str, list[SpecNode]] = field(default_factory=dict)
    _kinds_of: int = -1
    """How many nodes ``_kinds`` was built from (rebuilt when nodes were added since)."""

    def of_kind(self, kind: str) -> list[SpecNode]:
        """The nodes of one kind (``Endpoint``), in id order: an index built once, not a pass over every node."""
        if self._kinds_of != len(self.nodes):
            self._kinds = {}
            for node in self.nodes.values():
                self._kinds.setdefault(node.kind, []).append(node)
            self._kinds_of = len(self.nodes)
        return self._kinds.get(kind, [])

    def source_map(self, file: str) -> SourceMap:
        if file not in self.source_maps:
            if self.source_loader is not None:
                text = self.source_loader(file)
            else:
                text, _ = decode(file, (self.root / file).read_bytes())
            self.source_maps[file] = SourceMap(file, text or "")
        return self.source_maps[file]

    def locate(
        self, node: SpecNode, path: tuple[str | int, ...], key: bool = False
    ) -> tuple[Location, str | None, int]:
        return self.source_map(node.file).location(node.index, path, key)
