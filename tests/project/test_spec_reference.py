"""The spec reference (docs/reference/specs.md) is what the models give, and every field of every kind
says what it is: the descriptions reach the page, the JSON Schema and the editors' hovers alike."""

from __future__ import annotations

import subprocess
import sys

from modelplane.specs.kinds import KIND_MODELS
from modelplane.specs.reference import PROJECT, every_field, render, sections
from modelplane.specs.schema import project_schema, spec_schema
from tests.conftest import REPO

PAGE = REPO / "docs" / "reference" / "specs.md"

UNDESCRIBED: dict[str, str] = {}
"""``kind:path`` (``project:path`` for modelplane.yaml) of a field allowed to have no description, with the reason (none today)."""


def test_the_committed_page_is_what_the_models_give() -> None:
    assert PAGE.read_text() == render(), (
        "docs/reference/specs.md is stale: run .venv/bin/python tools/gen_spec_reference.py"
    )


def test_the_generator_checks_the_page_as_the_test_does() -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "gen_spec_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_every_field_of_every_kind_has_a_description() -> None:
    fields = list(every_field())
    assert len(fields) > 150  # every nested model is walked, not only the top level
    missing = [f"{kind}:{path}" for kind, path, field in fields if not field.description]
    assert [m for m in missing if m not in UNDESCRIBED] == []


def test_the_page_has_a_row_for_every_field_and_a_section_per_nested_model() -> None:
    text = PAGE.read_text()
    for kind in (*KIND_MODELS, PROJECT):  # and the project file, modelplane.yaml
        for section in sections(kind):
            if section.path:
                assert f"### `{section.path}` {{#{section.anchor}}}" in text, section
            for name, field in section.model.model_fields.items():
                assert f"| `{field.alias or name}` |" in text, (kind, section.path, name)
    # the details a reader looks for: required, defaults and allowed values
    assert "| `qps` | number | yes |  | > 0 | Peak requests per second the endpoint must serve. |" in text
    assert "| `when_idle` | string or null |  | `null` | `synthesize`, `hold`, `fail`, `pass` |" in text
    assert '| `timeout` | duration |  | `"1h"` |' in text
    # a model default shows what differs from the model's own defaults (its table is below)
    assert (
        '`[{"weight": 5, "pause": "1m"}, {"weight": 25, "pause": "1m"}, {"weight": 50, "pause": "1m"}, {"weight": 100}]`'
        in text
    )
    assert (
        "### `environments.<name>.secrets.<name>.kubernetes` {#project-environments-name-secrets-name-kubernetes}"
        in text
    )


def test_the_descriptions_reach_the_json_schema_editors_read() -> None:
    defs = spec_schema()["$defs"]
    assert defs["Traffic"]["properties"]["qps"]["description"] == "Peak requests per second the endpoint must serve."
    assert defs["Metadata"]["properties"]["owner"]["description"].startswith("Team or person told")
    assert "one re-check of a marginal failure" in defs["Analysis"]["properties"]["failure_limit"]["description"]
    project = project_schema()["properties"]
    assert project["default_environment"]["description"].startswith("The environment commands use without `--env`")
