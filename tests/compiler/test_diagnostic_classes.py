"""Each class of diagnostic: what is wrong, where (file, line, column) and the fix, and never a cascade.

The last test plants every one of them in one project and checks that a single
run reports each exactly once, load-level and graph-level together.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.compiler.compile import check_specs
from modelplane.errors import Diagnostic, GraphError, SpecError

MakeProject = Callable[..., Path]

DATA = """\
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: events, owner: team-data}
spec:
  uri: s3://lake/events/
  format: delta
  schema:
    columns:
      - {name: user_id, type: string}
      - {name: ts, type: timestamp}
"""

ML = """\
apiVersion: modelplane/v1
kind: Workflow
metadata: {name: train, owner: team-ml}
spec:
  inputs: [dataset/events]
  outputs: [model/chat]
  command: [python3, train.py]
---
apiVersion: modelplane/v1
kind: Model
metadata: {name: chat, owner: team-ml}
spec:
  version: "1.0"
  artifact: s3://models/chat/
  parameters_b: 1
  trained_on: {datasets: [events], workflow: train}
"""

SERVING = """\
apiVersion: modelplane/v1
kind: Stack
metadata: {name: local, owner: team-platform}
spec: {provider: local}
---
apiVersion: modelplane/v1
kind: Endpoint
metadata: {name: chat, owner: team-serving}
spec:
  model: chat
  stack: local
  resources: {accelerator: L4, gpus_per_replica: 1}
  traffic: {qps: 5}
  slo: {p99_latency_ms: 1000, availability: 0.999}
  autoscaling: {min_replicas: 1, max_replicas: 2}
  rollout:
    steps:
      - {weight: 10, pause: 30s}
      - {weight: 100}
---
apiVersion: modelplane/v1
kind: Service
metadata: {name: bot, owner: team-product}
spec: {consumes: [endpoint/chat], tier: 1}
"""


def _files(**edits: tuple[str, str]) -> dict[str, str]:
    files = {"specs/data.yaml": DATA, "specs/ml.yaml": ML, "specs/serving.yaml": SERVING}
    for name, (old, new) in edits.items():
        rel = f"specs/{name}.yaml"
        assert old in files[rel], (rel, old)
        files[rel] = files[rel].replace(old, new, 1)
    return files


def errors_of(root: Path) -> list[Diagnostic]:
    """What validate reports: load errors, and the graph rules (with them, or after a clean load)."""
    with pytest.raises((SpecError, GraphError)) as info:
        check_specs(root, use_cache=False)
    return info.value.diagnostics


def at(d: Diagnostic) -> tuple[str, int, int]:
    assert d.location is not None
    return d.location.file, d.location.line, d.location.column


def only(diags: list[Diagnostic]) -> Diagnostic:
    assert len(diags) == 1, [(d.code, d.message) for d in diags]
    return diags[0]


# (name, the edit, code, (file, line, column), words the message has, words the hint has)
CASES = [
    (
        "bound-with-field-hint",
        {"serving": ("gpus_per_replica: 1}", "gpus_per_replica: 0}")},
        "invalid-value",
        ("specs/serving.yaml", 12, 50),
        "spec.resources.gpus_per_replica must be at least 1, got 0",
        "at least 1 GPU",
    ),
    (
        "availability-as-percent",
        {"serving": ("availability: 0.999", "availability: 99.9")},
        "invalid-value",
        ("specs/serving.yaml", 14, 45),
        "spec.slo.availability must be less than 1",
        "99.9% is 0.999",
    ),
    (
        "weight-as-fraction",
        {"serving": ("{weight: 10, pause: 30s}", "{weight: 0.1, pause: 30s}")},
        "invalid-value",
        ("specs/serving.yaml", 18, 18),
        "spec.rollout.steps[0].weight: expected a whole number, got 0.1",
        "10 means 10%",
    ),
    (
        "tier-as-word",
        {"serving": ("tier: 1}", "tier: critical}")},
        "invalid-value",
        ("specs/serving.yaml", 24, 41),
        "spec.tier: expected a whole number, got `critical`",
        "0 (most critical)",
    ),
    (
        "duration-without-unit",
        {"serving": ("pause: 30s}", "pause: 30}")},
        "invalid-value",
        ("specs/serving.yaml", 18, 29),
        "spec.rollout.steps[0].pause: `30` has no unit",
        "write `30s` for 30 seconds",
    ),
    (
        "not-a-duration",
        {"serving": ("pause: 30s}", "pause: 30 seconds}")},
        "invalid-value",
        ("specs/serving.yaml", 18, 29),
        "`30 seconds` is not a duration",
        "1h30m",
    ),
    (
        "float-that-loses-digits",
        {"ml": ('version: "1.0"', "version: 1.10")},
        "invalid-value",
        ("specs/ml.yaml", 13, 12),
        "YAML reads `1.10` as the number 1.1",
        'quote it to keep it as written: "1.10"',
    ),
    (
        "bare-name-where-kinds-vary",
        {"ml": ("inputs: [dataset/events]", "inputs: [events]")},
        "invalid-value",
        ("specs/ml.yaml", 5, 12),
        "spec.inputs[0]: `events` is not a `kind/name` reference",
        "`dataset/events`, `feature/events`, `model/events`",
    ),
    (
        "wrong-kind-where-kind-is-fixed",
        {"serving": ("  model: chat\n", "  model: dataset/chat\n")},
        "invalid-value",
        ("specs/serving.yaml", 10, 10),
        "`dataset/chat` names a dataset, but this field can only name a model",
        "the name alone, or `model/<name>`",
    ),
    (
        "unsplittable-command",
        {"ml": ("command: [python3, train.py]", "command: python3 'train.py")},
        "invalid-value",
        ("specs/ml.yaml", 7, 12),
        "cannot split `python3 'train.py` into arguments",
        "write the command as a list",
    ),
    (
        "misspelt-required-field",
        {"data": ("  uri: s3", "  url: s3")},
        "unknown-field",
        ("specs/data.yaml", 5, 3),
        "unknown field `url` in spec",
        "did you mean `uri`?",
    ),
    (
        "unknown-field-lists-every-field",
        {"data": ("  format: delta\n", "  format: delta\n  zzz: 1\n")},
        "unknown-field",
        ("specs/data.yaml", 7, 3),
        "unknown field `zzz` in spec",
        "allowed fields: `derived_from`, `format`, `freshness`, `schema`, `uri`, `version`",
    ),
    (
        "unknown-accelerator",
        {"serving": ("accelerator: L4,", "accelerator: H10,")},
        "unknown-accelerator",
        ("specs/serving.yaml", 12, 28),
        "unknown accelerator `H10`",
        "did you mean `H100`?",
    ),
]


@pytest.mark.parametrize(("name", "edits", "code", "where", "message", "hint"), CASES, ids=[c[0] for c in CASES])
def test_each_class_says_what_where_and_how_to_fix(
    make_project: MakeProject,
    name: str,
    edits: dict[str, tuple[str, str]],
    code: str,
    where: tuple[str, int, int],
    message: str,
    hint: str,
) -> None:
    d = only(errors_of(make_project(_files(**edits))))
    assert d.code == code
    assert at(d) == where
    assert message in d.message
    assert d.hint is not None and hint in d.hint
    assert "Input should" not in d.message  # no raw pydantic text


def test_a_duplicate_key_hides_no_other_document(make_project: MakeProject) -> None:
    text = (
        DATA.replace("  format: delta\n", "  format: delta\n  format: parquet\n")
        + "---\n"
        + DATA.replace("name: events", "name: other").replace("    columns:", "    colums:")
    )
    diags = errors_of(make_project({**_files(), "specs/data.yaml": text}))
    assert sorted((d.code, at(d)) for d in diags) == [
        ("duplicate-key", ("specs/data.yaml", 7, 3)),
        ("unknown-field", ("specs/data.yaml", 20, 5)),
    ]


EXTRA = """\
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: loop-a, owner: team-data}
spec: {uri: s3://x/a/, format: delta, derived_from: [loop-b], schema: {columns: [{name: id, type: string}]}}
---
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: loop-b, owner: team-data}
spec: {uri: s3://x/b/, format: delta, derived_from: [loop-a, broken, unparsable], schema: {columns: [{name: id, type: string}]}}
---
apiVersion: modelplane/v1
kind: Feature
metadata: {name: user-feats, owner: team-data}
spec:
  inputs: [{dataset: loop-a, columns: [nope]}, {dataset: broken, columns: [id]}]
  entity: user_id
  columns: [{name: user_id, type: string}]
---
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: broken, owner: team-data}
spec: {uri: s3://x/c/, format: deltta, schema: {columns: [{name: id, type: string}]}}
"""
BAD = "kind: Dataset\nmetadata: {name: unparsable\n"


def test_graph_rules_run_beside_load_errors_without_cascades(make_project: MakeProject) -> None:
    """A cycle and a missing column in the part that loaded are reported with the load error; the
    documents that failed (one invalid, one file that does not parse) are unknown, not missing."""
    files = {**_files(), "specs/extra.yaml": EXTRA, "specs/bad.yaml": BAD}
    diags = errors_of(make_project(files))
    assert sorted((d.code, at(d)[0]) for d in diags) == [
        ("cycle", "specs/extra.yaml"),
        ("invalid-value", "specs/extra.yaml"),  # deltta
        ("unknown-column", "specs/extra.yaml"),  # nope, on the part that loaded
        ("yaml-syntax", "specs/bad.yaml"),
    ]


def test_one_run_reports_every_planted_error_once(make_project: MakeProject) -> None:
    """Every case above at once (each edit on its own line), with the graph-level and cascade cases."""
    planted = [c for c in CASES if c[0] not in ("not-a-duration", "unknown-accelerator")]  # same lines as others
    files = {**_files(), "specs/extra.yaml": EXTRA, "specs/bad.yaml": BAD}
    for _, edits, *_ in planted:
        for name, (old, new) in edits.items():
            rel = f"specs/{name}.yaml"
            assert old in files[rel], (rel, old)
            files[rel] = files[rel].replace(old, new, 1)
    diags = errors_of(make_project(files))
    found = sorted((d.code, at(d)) for d in diags)
    expected = []
    for name, _, code, (f, line, col), *_ in planted:
        if f == "specs/data.yaml" and line > 6 and name != "unknown-field-lists-every-field":
            line += 1  # below the added `zzz: 1` line
        if name == "duration-without-unit":
            col += 1  # `weight: 0.1` on the same line is one character longer
        expected.append((code, (f, line, col)))
    expected += [
        ("cycle", ("specs/extra.yaml", 9, 54)),  # at `derived_from: [loop-a`, the reference closing it
        ("invalid-value", ("specs/extra.yaml", 22, 32)),  # format: deltta
        ("unknown-column", ("specs/extra.yaml", 15, 40)),  # columns: [nope]
        ("yaml-syntax", ("specs/bad.yaml", 2, 11)),  # the unclosed `{`, not past the last line
    ]
    assert found == sorted(expected)
    assert not [d for d in diags if "Input should" in d.message or not d.hint]
