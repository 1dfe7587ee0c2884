"""Load stage: project file -> spec files -> validated, normalized documents (``specs.base.normalize``).

Every problem in every file is collected before anything is raised, so a run
reports all of them at once. Files whose content was validated before (same
bytes, same project file, same environment) come from a content-keyed cache
and skip parsing and validation entirely.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from modelplane.compiler.graph.fingerprint import kind_and_name, serialized
from modelplane.compiler.incremental import spec_cache
from modelplane.compiler.incremental.spec_cache import CachedDoc
from modelplane.compiler.load import forked
from modelplane.compiler.load.interpolate import BAD_SECRET, TOO_LARGE, Budget, Unresolved, deep_merge, interpolate
from modelplane.compiler.load.references import resolve
from modelplane.compiler.load.specset import SpecNode, SpecSet
from modelplane.compiler.load.validate import diagnostics_for, floats_as_written
from modelplane.compiler.source.files import Source
from modelplane.compiler.source.positions import SourceMap
from modelplane.compiler.source.scan import Scan, scan
from modelplane.compiler.source.yamlio import ParsedFile, decode, parse, plainly_safe_files, unsafe_values
from modelplane.compiler.timings import timed
from modelplane.errors import Collector, Diagnostic, Location, SpecError, did_you_mean
from modelplane.specs.base import API_VERSION, NodeId, kind_key
from modelplane.specs.project import PROJECT_FILE
from modelplane.specs.refs import refs_as_plain, refs_from_plain


def load(root: Path, env: str | None = None, source: Source | None = None, use_cache: bool = True) -> SpecSet:
    """Load and validate every spec of ``root`` for environment ``env``.

    Raises ``SpecError`` with every problem found; returns the nodes otherwise.
    """
    return load_scanned(scan(root, env, source), use_cache)


@timed("load")
def load_scanned(sc: Scan, use_cache: bool = True) -> SpecSet:
    """``load`` of what a scan read (a compile scans first, to try its graph cache)."""
    with paused_gc():
        return _load(sc, use_cache)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    A compile allocates hundreds of thousands of dicts and lists that all stay
    alive; every generational collection rescans them, which took more than
    half of a 10,000-node load. Nothing made here forms cycles worth collecting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # what was built stays alive: move it out of the collector's sight
            # instead of letting the next collection scan all of it
            gc.freeze()
            gc.enable()


def _load(sc: Scan, use_cache: bool) -> SpecSet:
    root, project, env_name = sc.root, sc.project, sc.environment
    environment = project.environments[env_name]
    cache = open_cache(sc, use_cache)

    problems = Collector()
    problems.extend(sc.problems)
    texts: dict[str, str] = {}
    used_overrides: set[str] = set()
    partial: list[SpecNode] = []  # invalid documents whose references are still worth checking
    docs = read_documents(sc, list(sc.hashes), cache, problems, texts, partial, used_overrides)
    nodes: dict[NodeId, SpecNode] = {}
    duplicates: list[tuple[SpecNode, SpecNode]] = []
    for node in docs:
        if node.id in nodes:
            duplicates.append((nodes[node.id], node))
            continue
        nodes[node.id] = node

    specs = SpecSet(
        root=root,
        project=project,
        environment=env_name,
        nodes=dict(sorted(nodes.items())),
        files=dict(sc.hashes),
        fingerprint=sc.fingerprint,
    )
    # positions are read off the bytes the scan read and hashed (held in memory; git's objects for --base):
    # a second read of each file a warning points into was a sixth of a cold plan's checks
    specs.source_loader = lambda f: decode(f, sc.content(f))[0] or ""
    for f, text in texts.items():
        specs.source_maps[f] = SourceMap(f, text)
    for first, again in duplicates:
        first_loc, _, _ = specs.locate(first, ("metadata", "name"))
        problems.add(
            Diagnostic.at(
                specs.locate(again, ("metadata", "name")),
                "duplicate-name",
                f"{again.id} is defined twice",
                "names are unique per kind; rename or remove one of the two",
                related=(("first defined here", first_loc),),
            )
        )
    for oid in sorted(set(environment.overrides) - used_overrides):
        problems.add(
            Diagnostic(
                code="unknown-override",
                message=f"environment `{env_name}` overrides `{oid}`, which no spec defines",
                location=Location(PROJECT_FILE),
                hint=did_you_mean(oid, [str(n) for n in nodes]),
            )
        )
    # a file none of whose documents could be read may define any name written in it
    read = {p.file for p in partial}
    unknown = frozenset(w for f, text in texts.items() if f not in read for w in _WORD.findall(text))
    links, ref_problems = resolve(specs, partial, unknown)
    specs.links = links
    problems.extend(ref_problems)
    if problems:
        problems.extend(_graph_rules_of_the_rest(specs, partial, links))
        raise SpecError(problems.items)
    cache.save(set(sc.hashes.values()))
    return specs


_WORD = re.compile(r"[a-z0-9][a-z0-9-]*")


def _graph_rules_of_the_rest(specs: SpecSet, partial: list[SpecNode], links: list[Any]) -> list[Diagnostic]:
    """The graph rules (cycles, column lineage, GPU fit, engine flags) on every valid document, those
    of files with problems included, so one run shows them beside the load errors. A document that
    failed to load is unknown, not missing: edges to it are left out, and no rule reports what its
    absence causes."""
    from modelplane.compiler.graph.checks import check
    from modelplane.compiler.graph.lineage import build

    nodes = dict(specs.nodes)
    for p in partial:
        if p._model is not None:  # validated: only its file (or a duplicate key in it) kept it out
            nodes.setdefault(p.id, p)
    valid = SpecSet(
        specs.root,
        specs.project,
        specs.environment,
        dict(sorted(nodes.items())),
        dict(specs.files),
        source_loader=specs.source_loader,
        source_maps=specs.source_maps,
    )
    sound = [link for link in links if link.node in nodes and link.target in nodes]
    try:
        return check(build(valid, sound, partial=True))
    except Exception:
        return []


def open_cache(sc: Scan, use_cache: bool) -> spec_cache.SpecCache:
    """The validated-documents cache for this scan's project file and environment."""
    if use_cache:
        return spec_cache.SpecCache.open(sc.root, sc.environment, sc.project_hash)
    return spec_cache.SpecCache.in_memory(sc.environment, sc.project_hash)


_BATCH = 32

_READ_AS_MODELS = b"kind: Endpoint"
"""How an endpoint's document starts its kind line, as written almost always: the graph rules and the plan read
every endpoint's typed model (capacity, GPU fit, engine flags), and a forked child sends back JSON, not models, so
the files holding one stay with the parent where they can (``forked.split``). With the share taken by count,
the parent validated 336 endpoints of a cold 10,000-node plan again (~18 ms) and decoded another 3,200 documents.
Another spelling only forgoes the saving."""


_DOC_COST = 300
_ENDPOINT_COST = 400


def _weight(raw: bytes) -> int:
    """A file's work for the parse fork's split (``forked.split``), in bytes' worth: its bytes, ``_DOC_COST`` for each
    document after the first and ``_ENDPOINT_COST`` more for each endpoint (~25 nested models to validate, ~2.4 KB
    of JSON to write). Measured per file of the 10,000-node generator project: 30 µs for a one-document file of
    300 bytes, 49 µs for a one-endpoint file of 400, 600 µs for a file of 24 documents and 7.4 KB. By bytes alone
    the parent, which keeps the endpoints' files, had 65% of the work where it should have had 54%, and the
    child waited idle for the last third of the parent's time."""
    return len(raw) + _DOC_COST * raw.count(b"\n---") + _ENDPOINT_COST * raw.count(_READ_AS_MODELS)


@timed("parse+validate")
def read_documents(
    sc: Scan,
    paths: list[str],
    cache: spec_cache.SpecCache,
    problems: Collector,
    texts: dict[str, str],
    partial: list[SpecNode],
    used_overrides: set[str],
) -> list[SpecNode]:
    """The validated documents of these files, in file order: from the cache, or parsed now.

    A file with any problem contributes none (its problems go to ``problems``);
    ``texts`` gets the text of every file parsed, for locating diagnostics.
    """
    environment = sc.project.environments[sc.environment]
    variables = sc.project.variables_for(sc.environment)
    limits = sc.project.limits
    to_parse = [p for p in paths if cache.get(sc.hashes[p]) is None]
    prefetch = getattr(sc.source, "prefetch", None)
    if prefetch is not None:  # one git process for every blob to parse, not one per file
        prefetch(to_parse)
    # the registered kinds' models, built before any fork (a child forked first built them all again: ~0.1 s
    # of CPU) and only where a file is parsed (a warm run never builds them)
    kinds = _registered_kinds() if to_parse else None

    def parse_files(files: list[str]) -> dict[str, FileResult]:
        parsed: dict[str, FileResult] = {}
        if not files:
            return parsed
        assert kinds is not None  # there were files to parse
        # files go through in small batches: the JSON-safety of a batch's values is one call (a file
        # is walked for positions only when that fails), and a batch is validated while its parsed
        # documents are still in the CPU's caches (parsing every file first and then validating
        # them all cost a sixth more)
        for at in range(0, len(files), _BATCH):
            read = {p: _read_file(p, sc.content(p), limits) for p in files[at : at + _BATCH]}
            safe = plainly_safe_files([r[1].documents for r in read.values() if not isinstance(r, FileResult)])
            for p, r in read.items():
                parsed[p] = (
                    r if isinstance(r, FileResult) else _load_file(p, *r, safe, variables, environment.overrides, kinds)
                )
        return parsed

    mine, share = forked.start(
        to_parse,
        lambda files: {p: _clean(r) for p, r in parse_files(files).items()},
        lambda p: (_weight(raw := sc.content(p)), _READ_AS_MODELS in raw),
    )
    child_refs: dict[str, dict[int, Any]] = {}  # path -> document index -> references the child found
    parsed = parse_files(mine)
    if share is not None:
        clean, left = share.collect()
        for p, (cdocs, overrides) in clean.items():
            parsed[p] = FileResult([(i, blob, None, own) for i, blob, own, _ in cdocs], used_overrides=set(overrides))
            child_refs[p] = {i: refs for i, _, _, refs in cdocs}
        parsed.update(parse_files(left))
    out: list[SpecNode] = []
    new = tuple.__new__  # a NodeId made in C (a NamedTuple's own __new__ is a Python function): one per document
    for path in paths:
        key = sc.hashes[path]
        docs: list[CachedDoc]
        result = parsed.get(path)
        if result is not None:
            problems.extend(result.problems)
            partial.extend(result.partial)
            used_overrides.update(result.used_overrides)
            if result.text is not None:
                texts[path] = result.text
            if result.docs is None:
                continue
            docs = result.docs
            cache.put(key, docs)  # the JSON the loader made, for both caches
            found = child_refs.get(path)
            for doc_index, blob, model, own in docs:
                # the document stays JSON until a stage reads it: a cold plan never reads a third
                # of them (references come from the model, or the child that built it), and parsing
                # them all back cost ~5%
                assert isinstance(blob, bytes)
                kind, name = (model.kind, model.metadata.name) if model is not None else kind_and_name(blob)
                node = SpecNode(new(NodeId, (kind_key(kind), name)), kind, path, doc_index, blob, model, blob, own)
                if found is not None and kinds is not None:
                    node.refs = refs_from_plain(kinds[0][kind], found[doc_index])
                out.append(node)
            continue
        else:
            docs = cache.get(key) or []
            for _, d, m, _ in docs:
                kind, name = _kind_name(d, m)
                if f"{kind.lower()}/{name}" in environment.overrides:
                    used_overrides.add(f"{kind.lower()}/{name}")
        for doc_index, data, model, own in docs:
            kind, name = _kind_name(data, model)
            out.append(SpecNode(new(NodeId, (kind_key(kind), name)), kind, path, doc_index, data, model, None, own))
    return out


def _registered_kinds() -> tuple[dict[str, type[BaseModel]], TypeAdapter[Any]]:
    """The registered kinds' models and their union, toy kinds too (looked up once per parse, not per file)."""
    from modelplane.specs.kinds.union import kind_models, spec_adapter  # builds every model: only when parsing

    return kind_models(), spec_adapter()


def _clean(result: FileResult) -> forked.Clean | None:
    """What a forked child sends back of a file: only a file with no problem at all (the parent
    parses any other itself, so its diagnostics come from one place)."""
    if result.docs is None or result.problems or result.partial or result.text is not None:
        return None
    docs = [(i, blob, own, refs_as_plain(model)) for i, blob, model, own in result.docs]
    return docs, sorted(result.used_overrides)  # type: ignore[return-value]


def _kind_name(data: dict[str, Any] | bytes, model: Any) -> tuple[str, str]:
    """A document's kind and name: from its model where this process validated it, from its
    JSON where a forked child did (``forked``), else from the stored document."""
    if model is not None:
        return model.kind, model.metadata.name
    if isinstance(data, bytes):
        return kind_and_name(data)
    return data["kind"], data["metadata"]["name"]


@dataclass
class FileResult:
    """What parsing one file gave: its documents, or None and the problems that stopped it."""

    docs: list[CachedDoc] | None
    problems: list[Diagnostic] = field(default_factory=list)
    partial: list[SpecNode] = field(default_factory=list)
    """Documents of a file with problems that still answer references."""
    used_overrides: set[str] = field(default_factory=set)
    text: str | None = None
    """The file's text where it has problems (to locate them)."""


def _read_file(path: str, raw: bytes, limits: Any) -> tuple[str, ParsedFile] | FileResult:
    """Decode and parse one file (values not yet checked for JSON safety); a FileResult if that failed."""
    text, problem = decode(path, raw)
    if problem is not None:
        return FileResult(None, [problem])
    assert text is not None
    parsed = parse(path, text, limits.max_alias_events, check_values=False)
    if parsed.errors:  # documents parsed before a construct was refused still answer references
        return FileResult(None, parsed.errors, _named_documents(path, parsed.documents), text=text)
    parsed.budget = max(0, limits.max_file_bytes - len(raw))
    return text, parsed


def _load_file(
    path: str,
    text: str,
    parsed: ParsedFile,
    values_safe: bool,
    variables: dict[str, Any],
    overrides: dict[str, dict[str, Any]],
    kinds: tuple[dict[str, type[BaseModel]], TypeAdapter[Any]],
) -> FileResult:
    """Validate one parsed file (its values checked first unless known ``values_safe``) against ``kinds``, the
    registered kinds' models and their union (``specs.kinds.union``)."""
    if not values_safe:
        parsed.errors.extend(unsafe_values(path, text, parsed.documents))
    if parsed.errors:
        # values JSON cannot carry leave the documents parsed: they still answer references
        return FileResult(None, parsed.errors, _named_documents(path, parsed.documents), text=text)
    problems = Collector()
    partial: list[SpecNode] = []
    used_overrides: set[str] = set()
    source = SourceMap(path, text)
    KIND_MODELS, SPEC_ADAPTER = kinds

    has_refs = "${" in text
    budget = Budget(parsed.budget)  # interpolated text counts toward the file limit
    out: list[CachedDoc] = []
    ok = True
    for found in parsed.document_errors.values():
        problems.extend(found)
    for index, raw_doc in enumerate(parsed.documents):
        if not isinstance(raw_doc, dict):
            problems.add(_not_a_spec(source, index, raw_doc))
            ok = False
            continue
        doc = raw_doc
        # a kind written as a mapping or list is reported by validation; here it names no kind
        # (and must not be looked up: it is unhashable)
        kind = doc.get("kind") if isinstance(doc.get("kind"), str) else None
        meta = doc.get("metadata")
        if overrides and isinstance(kind, str) and isinstance(meta, dict) and isinstance(meta.get("name"), str):
            oid = f"{kind.lower()}/{meta['name']}"
            if oid in overrides:
                doc = deep_merge(doc, overrides[oid])
                used_overrides.add(oid)
        unresolved: list[Unresolved] = []
        secret_paths: list[tuple[str | int, ...]] = []
        if has_refs:
            doc = interpolate(doc, variables, unresolved, budget, secret_paths)
        for u in unresolved:
            problems.add(_unresolved(source, index, u, variables))
        misplaced = [p for p in secret_paths if not secret_allowed(kind, p)] if secret_paths else []
        for p in misplaced:
            problems.add(_misplaced_secret(source, index, p, kind))
        api = doc.get("apiVersion")
        if api != API_VERSION and kind in KIND_MODELS:
            loc, snippet, width = source.location(index, ("apiVersion",))
            problems.add(
                Diagnostic(
                    code="unsupported-api-version",
                    message=f"unsupported apiVersion `{api}`" if api is not None else "missing `apiVersion`",
                    location=loc,
                    hint=f"use `apiVersion: {API_VERSION}`",
                    snippet=snippet if api is not None else None,
                    width=width,
                )
            )
        try:
            try:
                model = SPEC_ADAPTER.validate_python(doc)
            except ValidationError as first:
                as_written = floats_as_written(first, doc, source, index)
                if as_written is None:
                    raise
                doc = as_written  # `version: 1.5` is the text "1.5"; validated again, once
                model = SPEC_ADAPTER.validate_python(doc)
        except ValidationError as exc:
            model_cls = KIND_MODELS.get(str(kind), KIND_MODELS["Dataset"])
            skip = {u.path for u in unresolved} | {("apiVersion",)} | set(misplaced)
            problems.extend(
                d for d in diagnostics_for(exc, doc, model_cls, source, index, strip_tag=True, skip_paths=skip)
            )
            if kind in KIND_MODELS and isinstance(meta, dict) and isinstance(meta.get("name"), str):
                partial.append(SpecNode(NodeId(kind.lower(), meta["name"]), kind, path, index, doc))
            ok = False
            continue
        if unresolved or misplaced or api != API_VERSION or index in parsed.document_errors:
            if index in parsed.document_errors:  # valid but for its duplicate key: it still answers references
                partial.append(SpecNode(NodeId(model.kind.lower(), model.metadata.name), model.kind, path, index, doc))
            ok = False
            continue
        blob, own = serialized(model)
        out.append((index, blob, model, own))
    if not ok:
        # the file is not cached or used, but its valid documents still answer references
        partial.extend(  # with their model: these are valid, and take part in the graph rules
            SpecNode(NodeId(m.kind.lower(), m.metadata.name), m.kind, path, i, d, m, None, own) for i, d, m, own in out
        )
        return FileResult(None, problems.items, partial, used_overrides, text)
    return FileResult(out, problems.items, partial, used_overrides)


def _named_documents(path: str, documents: list[Any]) -> list[SpecNode]:
    from modelplane.specs.kinds.registry import names

    KIND_MODELS = names()

    out = []
    for index, doc in enumerate(documents):
        kind = doc.get("kind") if isinstance(doc, dict) else None
        meta = doc.get("metadata") if isinstance(doc, dict) else None
        if (
            isinstance(kind, str)
            and kind in KIND_MODELS
            and isinstance(meta, dict)
            and isinstance(meta.get("name"), str)
        ):
            out.append(SpecNode(NodeId(kind.lower(), meta["name"]), kind, path, index, doc))
    return out


def _not_a_spec(source: SourceMap, index: int, raw_doc: object) -> Diagnostic:
    """A document that is empty or not a mapping: said at its first line, with what a spec looks like."""
    line, col = source.document_start(index)
    if raw_doc is None:
        code, what = "empty-document", f"document {index + 1} is empty"
        hint = "remove the stray `---`, or write a spec (apiVersion, kind, metadata, spec) there"
    else:
        code, what = "not-a-mapping", f"document {index + 1} is a {type(raw_doc).__name__}, not a mapping"
        hint = "a spec document is a mapping with apiVersion, kind, metadata and spec"
    return Diagnostic(code=code, message=what, location=Location(source.path, line, col), hint=hint)


def _unresolved(source: SourceMap, index: int, u: Unresolved, variables: dict[str, Any]) -> Diagnostic:
    loc, snippet, width = source.location(index, u.path)
    if snippet is not None and width > 1:
        # point inside the scalar at the `${`; a quoted scalar starts one column later
        quoted = snippet[loc.column - 1 : loc.column] in ("'", '"')
        loc = Location(loc.file, loc.line, loc.column + u.offset + (1 if quoted else 0))
        width = len(u.expression) + 3
    place, expr = (loc, snippet, width), u.expression
    if u.reason == TOO_LARGE:
        return Diagnostic.at(
            place,
            "interpolation-too-large",
            f"interpolating `${{{expr.strip()}}}` here takes this file past `limits.max_file_bytes`",
            "use shorter variables or fewer references, or raise `limits.max_file_bytes` in modelplane.yaml",
        )
    if u.reason.startswith(BAD_SECRET):
        return Diagnostic.at(
            place,
            "bad-secret-reference",
            f"`${{{expr}}}` is not a valid secret reference",
            u.reason.removeprefix(BAD_SECRET + ": "),
        )
    if u.reason == "undefined":
        hint = did_you_mean(expr.strip().removeprefix("var."), variables, "defined variables")
        return Diagnostic.at(
            place,
            "undefined-variable",
            f"undefined variable `{expr.strip()}`",
            hint or "define it under `variables:` in modelplane.yaml (for the project or this environment)",
        )
    return Diagnostic.at(
        place, "bad-interpolation", f"cannot interpolate `${{{expr}}}`", u.reason + "; write `$${` for a literal `${`"
    )


def secret_allowed(kind: object, path: tuple[str | int, ...]) -> bool:
    from modelplane.compiler.load.secrets import allowed
    from modelplane.stacks.settings import StackSettings

    return allowed(kind, path, frozenset(StackSettings.model_fields))


def _misplaced_secret(source: SourceMap, index: int, path: tuple[str | int, ...], kind: object) -> Diagnostic:
    from modelplane.compiler.load.secrets import ALLOWED

    field = ".".join(str(p) for p in path)
    return Diagnostic.at(
        source.location(index, path),
        "secret-not-allowed",
        f"a secret reference cannot go in `{field}` of a {kind}: it takes no secret (it is read as "
        "a plain value, or is not a string)",
        f"secret references are allowed in {ALLOWED}; write a literal value here",
    )
