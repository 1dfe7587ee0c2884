"""Check stage: every rendered `vllm serve` flag exists in the vLLM release the endpoint's image runs.

A flag the release lacks makes every pod exit at start (argparse rejects it),
long after `plan` said all was well. So each flag the renderer would emit
(``compiler.engine.engine_args``: typed spec in, flags with their spec paths
out) is looked up in that release's flag set (``compiler.vllm_versions``) and
reported at the spec line that asked for it: the ``engine.args`` field, the
``extra_args`` key, or the field that implies the flag. An image naming a
release without flag data is a warning: its flags cannot be checked.

Request-latency buckets are checked the way vLLM 0.33.0 validates them
(``ObservabilityConfig``: finite, above 0, strictly increasing), for the same
reason: a bad list is a crash loop, not a plan error, otherwise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

from modelplane.compiler.graph.lineage import LineageGraph
from modelplane.compiler.load.specset import SpecNode
from modelplane.errors import Diagnostic, Location, did_you_mean
from modelplane.specs.base import NodeId
from modelplane.specs.models import Model
from modelplane.specs.serving import Endpoint
from modelplane.stacks.engine import RENDERED_FLAGS, EngineArg, engine_args
from modelplane.stacks.vllm_versions import (
    PINNED_VERSION,
    flag_sets,
    image_for,
    image_version,
    supported_versions,
    version_key,
    versions_with,
)

Locate = Callable[[tuple[str | int, ...], bool], tuple[Location, str | None, int]]


def check_engine(graph: LineageGraph) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for node in graph.iter_kind("Endpoint"):
        ep = node.model
        if not isinstance(ep, Endpoint):
            continue
        model_node = graph.nodes.get(NodeId("model", ep.spec.model))
        model = model_node.model if model_node is not None else None
        if not isinstance(model, Model):
            continue  # an unresolved reference is reported by the reference check

        def locate(
            path: tuple[str | int, ...], key: bool = False, node: SpecNode = node
        ) -> tuple[Location, str | None, int]:
            return graph.specs.locate(node, path, key)

        out += _histogram_buckets(ep, locate)
        out += endpoint_flag_problems(ep, model, locate)
    return out


def endpoint_flag_problems(ep: Endpoint, model: Model, locate: Locate) -> list[Diagnostic]:
    image = ep.spec.engine.image
    version = image_version(image)
    sets = flag_sets()
    if version is None or version not in sets:
        loc, snippet, width = locate(("spec", "engine", "image"), False)
        named = f"vLLM {version}" if version else "no vLLM release in its tag"
        return [
            Diagnostic(
                "unknown-engine-version",
                f"endpoint/{ep.metadata.name}: engine.image `{image}` names {named}; modelplane has the "
                f"`vllm serve` flags of {', '.join(supported_versions())} only, so its flags are not checked",
                loc,
                f"use a supported release (`{image_for(PINNED_VERSION)}` is the default), or add its flag set "
                "with `python tools/vllm_flags.py VERSION`",
                snippet,
                width,
                severity="warning",
            )
        ]
    have = sets[version].flags
    if not ep.spec.engine.extra_args and _has_every_rendered_flag(version):
        return []  # nothing to look up: rendering every endpoint's flags was most of this check
    out = []
    for arg in engine_args(ep.spec, model.metadata.name, model.spec):
        if arg.flag not in have:
            out.append(_unknown_flag(ep, arg, version, have, locate))
    return out


@functools.cache
def _has_every_rendered_flag(version: str) -> bool:
    return flag_sets()[version].flags >= RENDERED_FLAGS


def _unknown_flag(ep: Endpoint, arg: EngineArg, version: str, have: frozenset[str], locate: Locate) -> Diagnostic:
    extra = bool(arg.path) and arg.path[:3] == ("spec", "engine", "extra_args")
    # the renderer's own flags (no spec path) are caused by the image choice
    loc, snippet, width = locate(arg.path or ("spec", "engine", "image"), extra)
    where = ".".join(str(p) for p in arg.path[1:]) if arg.path else "the renderer's own flags"
    others = [v for v in versions_with(arg.flag) if v != version]
    newer = [v for v in others if version_key(v) > version_key(version)]
    if newer:
        hint = (
            f"`{arg.flag}` was added after {version}: it is in vLLM {', '.join(others)}; "
            f"set engine.image to `{image_for(newer[-1])}`"
        )
    elif others:
        hint = f"`{arg.flag}` was removed after vLLM {others[-1]} (it is in {', '.join(others)})"
        hint += _suggest(arg.flag, have, "; ")
    else:
        hint = f"no supported vLLM release ({', '.join(supported_versions())}) has `{arg.flag}`" + _suggest(
            arg.flag, have, "; "
        )
    related: tuple[tuple[str, Location], ...] = ()
    if arg.path:
        image_loc, _, _ = locate(("spec", "engine", "image"), False)
        if image_loc != loc:
            related = ((f"engine.image runs vLLM {version}", image_loc),)
    return Diagnostic(
        "unknown-engine-flag",
        f"endpoint/{ep.metadata.name}: `vllm serve` of vLLM {version} has no flag `{arg.flag}` "
        f"(from {where}); every pod would exit at start",
        loc,
        hint,
        snippet,
        width,
        related=related,
    )


def _suggest(flag: str, have: frozenset[str], sep: str) -> str:
    close = did_you_mean(flag, have)
    return sep + close if close else ""


def _histogram_buckets(ep: Endpoint, locate: Locate) -> list[Diagnostic]:
    buckets = ep.spec.engine.histogram_buckets
    bad = next((i for i, b in enumerate(buckets) if not math.isfinite(b) or b <= 0), None)
    if bad is not None:
        why = f"bound {buckets[bad]!r} must be finite and above 0"
        path: tuple[str | int, ...] = ("spec", "engine", "histogram_buckets", bad)
    elif not buckets:
        why, path = "the list is empty", ("spec", "engine", "histogram_buckets")
    else:
        step = next((i for i in range(1, len(buckets)) if buckets[i] <= buckets[i - 1]), None)
        if step is None:
            return []
        why = f"{buckets[step]:g} follows {buckets[step - 1]:g}: bounds must be strictly increasing"
        path = ("spec", "engine", "histogram_buckets", step)
    loc, snippet, width = locate(path, False)
    return [
        Diagnostic(
            "engine-histogram-buckets",
            f"endpoint/{ep.metadata.name}: engine.histogram_buckets {why}; vLLM rejects it at start",
            loc,
            "list request-latency bounds in seconds, ascending, e.g. [0.05, 0.1, 0.25, 0.5, 1.0, 2.5]",
            snippet,
            width,
        )
    ]
