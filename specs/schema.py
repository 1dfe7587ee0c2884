"""JSON Schema of every kind (and of modelplane.yaml), for editors and yaml-language-server.

The models' own schema is post-processed so that an editor agrees with the compiler:

* ``${var.NAME}`` is accepted wherever a value goes (the loader interpolates before it
  validates, and a string that is exactly one reference takes the variable's type), and in
  the text of any string; ``kind`` and ``apiVersion`` take none (they are read first).
* ``${secret.NAME}`` is accepted only where ``compiler.load.secrets.allowed`` accepts it
  (``uri``, ``artifact``, ``command``, ``engine.extra_args``, stack ``settings``); anywhere
  else a string holding one is an error here too.
* every property and every enum has a description and an example, from the field's own
  description, else its model's docstring and what its type says (bounds, default).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from modelplane.specs.kinds.union import KIND_MODELS, AnySpec
from modelplane.specs.project import Project

SCHEMA_ID = "https://modelplane.dev/schemas/v1/spec.json"
VAR_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
VAR_WHOLE = {
    "type": "string",
    "pattern": rf"^\$\{{var\.{VAR_NAME}\}}$",
    "description": "A variable of the environment (`variables:` in modelplane.yaml); it takes the variable's type.",
}
VAR_IN_TEXT = {
    "type": "string",
    "pattern": rf"\$\{{var\.{VAR_NAME}\}}",
    "description": "Text with `${var.NAME}` in it; checked once the variable is substituted.",
}
NO_SECRET = {"pattern": r"\$\{secret\."}
# (model title, property) where a ${secret.NAME} may go: compiler.load.secrets.allowed, field by field
SECRET_FIELDS = {
    ("DatasetSpec", "uri"),
    ("ModelSpec", "artifact"),
    ("WorkflowSpec", "command"),
    ("EvaluationSpec", "command"),
    ("Engine", "extra_args"),
    ("StackSpec", "settings"),
}
_NO_VARS = {"kind", "apiVersion"}
_EXAMPLE_STRINGS = {
    r"^[a-z0-9][a-z0-9-]{0,62}$": "my-name",
    r"^([0-9]+(ms|w|d|h|m|s))+$": "30s",
}


def spec_schema() -> dict[str, Any]:
    """One schema accepting any spec document, discriminated on ``kind``."""
    schema = _for_editors(TypeAdapter(AnySpec).json_schema(by_alias=True))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    schema["title"] = "modelplane spec (apiVersion modelplane/v1)"
    return schema


def kind_schema(kind: str) -> dict[str, Any]:
    schema = _for_editors(KIND_MODELS[kind].model_json_schema(by_alias=True))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def project_schema() -> dict[str, Any]:
    schema = _for_editors(Project.model_json_schema(by_alias=True), variables=False)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "modelplane project file (modelplane.yaml)"
    return schema


# -- post-processing ----------------------------------------------------------------------------------------------


def _for_editors(schema: dict[str, Any], variables: bool = True) -> dict[str, Any]:
    defs: dict[str, Any] = schema.get("$defs", {})
    models = [*defs.values(), schema] if "properties" in schema else list(defs.values())
    for model in models:
        title = str(model.get("title", ""))
        for prop, sub in list(model.get("properties", {}).items()):
            _document(prop, sub, model, defs)
            secret_ok = (title, prop) in SECRET_FIELDS
            if not variables:
                continue
            if prop in _NO_VARS and title in KIND_MODELS:
                continue
            model["properties"][prop] = _with_references(sub, secret_ok)
    return schema


def _with_references(sub: dict[str, Any], secret_ok: bool) -> dict[str, Any]:
    """``sub`` accepting ``${var.NAME}`` where the compiler does, and ``${secret.NAME}`` only if ``secret_ok``."""
    out = _walk(sub, secret_ok)
    keep: dict[str, Any] = {k: out.pop(k) for k in ("title", "description", "examples", "default") if k in out}
    if "$ref" in out or out.get("type") != "string" or not _plain_string(out):
        out = {"anyOf": [out, VAR_WHOLE]} if out else out
    return {**keep, **out}


def _walk(node: dict[str, Any], secret_ok: bool) -> dict[str, Any]:
    """Deep copy of a subschema whose strings forbid secrets (unless ``secret_ok``) and whose
    constrained strings (pattern, enum) also take text holding a variable."""
    node = dict(node)
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        if key in node:
            node[key] = [_walk(n, secret_ok) for n in node[key]]
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            node[key] = _walk(node[key], secret_ok)
    if "patternProperties" in node:
        node["patternProperties"] = {p: _walk(n, secret_ok) for p, n in node["patternProperties"].items()}
    if node.get("type") == "string" and "const" not in node:
        if not secret_ok:
            node["not"] = NO_SECRET
        if not _plain_string(node):
            constrained = {k: node.pop(k) for k in ("pattern", "enum", "format", "minLength", "maxLength") if k in node}
            text = dict(VAR_IN_TEXT) if secret_ok else {**VAR_IN_TEXT, "not": NO_SECRET}
            return {**node, "anyOf": [{"type": "string", **constrained}, text]}
    return node


def _plain_string(node: dict[str, Any]) -> bool:
    return node.get("type") == "string" and not any(k in node for k in ("pattern", "enum", "format", "const", "anyOf"))


def _document(prop: str, sub: dict[str, Any], model: dict[str, Any], defs: dict[str, Any]) -> None:
    """Give ``sub`` a description and an example when the model has none."""
    target = _target(sub, defs)
    if "description" not in sub:
        words = prop.replace("_", " ")
        own = str(target.get("description", "")) if target is not sub else ""
        parent = str(model.get("description", "")).split("\n")[0]
        parts = [own or f"The {words}{_type_phrase(sub, defs)}."]
        if parent and not own:
            parts.append(f"Part of {model.get('title', '')}: {parent}")
        sub["description"] = " ".join(parts) + _default_phrase(sub)
    if "examples" not in sub:
        example = _example(prop, sub, defs)
        if example is not None:
            sub["examples"] = [example]
    enum = _enum(sub, defs)
    if enum and "enumDescriptions" not in sub:
        sub["markdownEnumDescriptions"] = [f"`{v}`: {prop.replace('_', ' ')} {v}" for v in enum]


def _target(sub: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = sub.get("$ref") or next((a["$ref"] for a in sub.get("anyOf", []) if "$ref" in a), None)
    if isinstance(ref, str):
        found: dict[str, Any] = defs.get(ref.rsplit("/", 1)[-1], sub)
        return found
    return sub


def _enum(sub: dict[str, Any], defs: dict[str, Any]) -> list[Any]:
    for node in [sub, _target(sub, defs), *sub.get("anyOf", [])]:
        if "enum" in node:
            return list(node["enum"])
    return []


def _scalar(sub: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of ``X | None``."""
    branches = [a for a in sub.get("anyOf", []) if a.get("type") != "null"]
    return branches[0] if len(branches) == 1 else sub


def _type_phrase(sub: dict[str, Any], defs: dict[str, Any]) -> str:
    node = _scalar(sub)
    kind = node.get("type")
    bits = []
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in node:
            bits.append(f"{word} {node[key]}")
    phrase = {"integer": "a whole number", "number": "a number", "boolean": "true or false", "array": "a list"}.get(
        str(kind), ""
    )
    if kind == "object":
        phrase = "a mapping"
    if "enum" in node:
        phrase = "one of " + ", ".join(f"`{v}`" for v in node["enum"])
    if not phrase and not bits:
        return ""
    return ": " + ", ".join(x for x in [phrase, *bits] if x)


def _default_phrase(sub: dict[str, Any]) -> str:
    if "default" not in sub or sub["default"] in (None, "", [], {}):
        return ""
    return f" Default: `{json.dumps(sub['default'])}`."


def _example(prop: str, sub: dict[str, Any], defs: dict[str, Any]) -> Any:
    if sub.get("default") not in (None, "", [], {}):
        return sub["default"]
    if "const" in sub:
        return sub["const"]
    enum = _enum(sub, defs)
    if enum:
        return enum[0]
    node = _scalar(sub)
    if "$ref" in node:
        return None  # a nested model: its own properties carry the examples
    if "anyOf" in node:
        tries = (_example(prop, {k: v for k, v in b.items() if k != "default"}, defs) for b in node["anyOf"])
        return next((t for t in tries if t is not None), None)
    kind = node.get("type")
    if kind in ("integer", "number"):
        low = node.get("minimum", node.get("exclusiveMinimum", 0))
        return max(1, low) if kind == "integer" else low if "minimum" in node else low + 1
    if kind == "boolean":
        return True
    if kind == "string":
        return _EXAMPLE_STRINGS.get(str(node.get("pattern")), f"my-{prop.replace('_', '-')}")
    if kind == "array":
        item = _example(prop, node.get("items", {}), defs)
        return [] if item is None else [item]
    if kind == "object":
        return {}
    return None
