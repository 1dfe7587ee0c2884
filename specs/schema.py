"""JSON Schema of every kind (and of modelplane.yaml), for editors and yaml-language-server."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from modelplane.specs.kinds import KIND_MODELS, AnySpec
from modelplane.specs.project import Project

SCHEMA_ID = "https://modelplane.dev/schemas/v1/spec.json"


def spec_schema() -> dict[str, Any]:
    """One schema accepting any spec document, discriminated on ``kind``."""
    schema = TypeAdapter(AnySpec).json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "modelplane spec (apiVersion modelplane/v1)"
    return schema


def kind_schema(kind: str) -> dict[str, Any]:
    schema = KIND_MODELS[kind].model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def project_schema() -> dict[str, Any]:
    schema = Project.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "modelplane project file (modelplane.yaml)"
    return schema
