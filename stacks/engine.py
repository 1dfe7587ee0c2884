"""The `vllm serve` command line of an endpoint revision, rendered from its typed spec.

One renderer for every place a replica runs: local processes (where vLLM and a
GPU are present) and the Kubernetes Deployment of the Pulumi stacks. Flags
appear in a fixed order. A field left at ``None`` lets vLLM decide; every other
value is passed explicitly, because vLLM's own defaults move between releases
(``gpu_memory_utilization`` 0.9 in 0.11.0, 0.92 in 0.33.0; async scheduling
off in 0.11.0, automatic in 0.33.0), so leaving out "the default" would run
something other than what the spec says.

Each flag carries the spec path that caused it, so ``engine_check`` can report
a flag the image's vLLM lacks at the line that asked for it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, NamedTuple, get_args

from modelplane.specs.models import Model, ModelSpec
from modelplane.specs.serving import Endpoint, EndpointSpec, VllmArgs

VLLM_PORT = 8000

Path = tuple[str | int, ...]


class EngineArg(NamedTuple):
    """One ``--flag [value]`` of the command; ``path`` is where in the endpoint document it comes from (a tuple:
    a plan's engine check renders ~10 per endpoint, and a frozen dataclass's ``__init__`` was half of that)."""

    flag: str
    value: str | None
    path: Path
    """``()`` for a flag the renderer always adds (the port)."""


def model_source(model: ModelSpec) -> str:
    """What vLLM loads: the artifact, with hf:// meaning a Hugging Face repo id."""
    artifact = model.artifact
    if artifact.startswith("hf://"):
        return artifact.removeprefix("hf://").split("@", 1)[0]
    return artifact


def served_model_name(spec: EndpointSpec, model_name: str) -> str:
    return spec.engine.args.served_model_name or model_name


def engine_args(spec: EndpointSpec, model_name: str, model: ModelSpec, port: int = VLLM_PORT) -> list[EngineArg]:
    """Every flag of ``vllm serve`` for this endpoint, in order, each with the spec path behind it."""
    eng = spec.engine
    named = ("spec", "engine", "args", "served_model_name") if eng.args.served_model_name else ("spec", "model")
    out = [
        EngineArg("--port", str(port), ()),
        EngineArg("--served-model-name", served_model_name(spec, model_name), named),
    ]
    revision = model.artifact.partition("@")[2]
    if revision:
        out.append(EngineArg("--revision", revision, ("spec", "model")))
    args = eng.args
    for name, flag, negated, path in _ARG_FLAGS:
        value = getattr(args, name)
        if value is None:
            continue
        if isinstance(value, bool):
            out.append(EngineArg(flag if value else negated, None, path))
        else:
            out.append(EngineArg(flag, str(value), path))
    # finer request-latency buckets than vLLM's (0.3, 0.5, 0.8, ...) for sub-second p99 gates
    out.append(EngineArg("--custom-histogram-buckets", _buckets(tuple(eng.histogram_buckets)), _BUCKETS_PATH))
    for flag, value in sorted(eng.extra_args.items()):
        path = ("spec", "engine", "extra_args", flag)
        if isinstance(value, bool):
            if value:
                out.append(EngineArg(f"--{flag}", None, path))
        else:
            out.append(EngineArg(f"--{flag}", str(value), path))
    return out


_ARG_FLAGS: tuple[tuple[str, str, str, Path], ...] = tuple(
    (name, "--" + name.replace("_", "-"), "--no-" + name.replace("_", "-"), ("spec", "engine", "args", name))
    for name in VllmArgs.model_fields  # declaration order: the flags' order; every field is a scalar
    if name != "served_model_name"  # rendered above, with the model's name as its default
)
_BUCKETS_PATH: Path = ("spec", "engine", "histogram_buckets")


def _may_be_bool(annotation: Any) -> bool:
    return annotation is bool or any(_may_be_bool(a) for a in get_args(annotation))


RENDERED_FLAGS: frozenset[str] = frozenset(
    {"--port", "--served-model-name", "--revision", "--custom-histogram-buckets"}
    | {on for _, on, _, _ in _ARG_FLAGS}
    | {off for name, _, off, _ in _ARG_FLAGS if _may_be_bool(VllmArgs.model_fields[name].annotation)}
)
"""Every flag ``engine_args`` can render, less the ``extra_args`` ones: where a release has them all, only an
endpoint's ``extra_args`` can name a flag it lacks."""


@functools.lru_cache(maxsize=64)
def _buckets(bounds: tuple[float, ...]) -> str:
    return json.dumps({"request_latency": list(bounds)}, separators=(",", ":"))


def command(spec: EndpointSpec, model_name: str, model: ModelSpec, port: int = VLLM_PORT) -> list[str]:
    """``MODEL --flag value ...``: the arguments after ``vllm serve``."""
    out = [model_source(model)]
    for arg in engine_args(spec, model_name, model, port):
        out.append(arg.flag)
        if arg.value is not None:
            out.append(arg.value)
    return out


def _endpoint(doc: dict[str, Any] | Endpoint) -> Endpoint:
    return doc if isinstance(doc, Endpoint) else Endpoint.model_validate(doc)


def _model(doc: dict[str, Any] | Model) -> Model:
    return doc if isinstance(doc, Model) else Model.model_validate(doc)


def served_name(endpoint: dict[str, Any] | Endpoint, model: dict[str, Any] | Model) -> str:
    """The name clients ask for (and the ``model_name`` label of vLLM's metrics)."""
    m = _model(model)
    return served_model_name(_endpoint(endpoint).spec, m.metadata.name)


def vllm_args(endpoint: dict[str, Any] | Endpoint, model: dict[str, Any] | Model, port: int = VLLM_PORT) -> list[str]:
    """``vllm serve MODEL --flag value ...`` (without the leading ``vllm serve``).

    Documents are validated into the spec models first, so a default is the
    model's default, never a guess made here.
    """
    m = _model(model)
    return command(_endpoint(endpoint).spec, m.metadata.name, m.spec, port)


def revision_id(endpoint: dict[str, Any], model: dict[str, Any] | None, artifact: str | None = None) -> str:
    """What serves: the endpoint's revision fields (``specs.endpoint_fields``: not autoscaling, routing, rollout
    and the rest a running revision takes in place) and its model's spec, and where a retrain made the weights,
    the trained artifact's digest (``trained_revision``). Same specs and weights, same revision, on every stack."""
    from modelplane.compiler.graph.fingerprint import content_hash
    from modelplane.specs.endpoint_fields import revision_fields

    spec_revision = "r" + content_hash([revision_fields(endpoint["spec"]), (model or {}).get("spec")])[:8]
    return trained_revision(spec_revision, artifact) if artifact else spec_revision


def trained_revision(spec_revision: str, artifact: str) -> str:
    """The revision of ``spec_revision``'s specs serving the weights a retrain made (``artifact``: their digest).

    A plain hash of the two strings, so the apply computes it in the workflow once the training step has
    reported its digest, and the next plan computes the same from the registered digest."""
    return "r" + hashlib.blake2b(f"{spec_revision}\0{artifact}".encode(), digest_size=4).hexdigest()
