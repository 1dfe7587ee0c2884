"""The `vllm serve` flags of each supported vLLM release, and which release an image runs.

The flag sets are package data (``stacks/engine_flags/vllm-<version>.json``),
written by ``tools/vllm_flags.py`` from each release's published wheel; they
are never edited by hand. Loaded once, on first use, so compiles that have no
Endpoint never read them.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

from modelplane.specs.serving import DEFAULT_VLLM_IMAGE

# `repo/name:v0.33.0`, `:0.33.0`, `:v0.33.0-cu130`, with or without `@sha256:...`
_TAG_VERSION = re.compile(r":v?(?P<version>\d+\.\d+\.\d+(?:\.post\d+)?)(?:[-_.][A-Za-z0-9_.-]*)?(?:@|$)")


@dataclass(frozen=True, slots=True)
class FlagSet:
    """The flags one pinned vLLM version's ``vllm serve`` accepts, and the wheel they were read from."""

    version: str
    flags: frozenset[str]
    wheel: str
    sha256: str


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version))


@functools.cache
def flag_sets() -> dict[str, FlagSet]:
    """Supported version -> its flag set, oldest first."""
    out: dict[str, FlagSet] = {}
    folder = resources.files("modelplane.stacks").joinpath("engine_flags")
    for entry in folder.iterdir():
        if not (entry.name.startswith("vllm-") and entry.name.endswith(".json")):
            continue
        data = json.loads(entry.read_text(encoding="utf-8"))
        out[data["version"]] = FlagSet(data["version"], frozenset(data["flags"]), data["wheel"], data["sha256"])
    return dict(sorted(out.items(), key=lambda kv: version_key(kv[0])))


def supported_versions() -> list[str]:
    return list(flag_sets())


def image_version(image: str) -> str | None:
    """The vLLM release an image tag names (``vllm/vllm-openai:v0.33.0`` -> ``0.33.0``), or None."""
    m = _TAG_VERSION.search(image.rsplit("/", 1)[-1])
    return m.group("version") if m else None


PINNED_VERSION = image_version(DEFAULT_VLLM_IMAGE) or ""
"""The release ``engine.image`` defaults to."""


def image_for(version: str) -> str:
    return DEFAULT_VLLM_IMAGE.rsplit(":", 1)[0] + f":v{version}"


def versions_with(flag: str) -> list[str]:
    return [v for v, fs in flag_sets().items() if flag in fs.flags]
