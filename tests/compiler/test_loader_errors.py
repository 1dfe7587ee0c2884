"""Every class of spec error is reported at its exact file, line and column, with a hint."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.compiler.load.loader import load
from modelplane.errors import Diagnostic, SpecError

DATASET = """\
apiVersion: modelplane/v1
kind: Dataset
metadata:
  name: events
  owner: team-data
spec:
  uri: s3://lake/events/
  format: delta
  schema:
    columns:
      - {name: user_id, type: string}
      - {name: ts, type: timestamp}
"""


def errors_of(root: Path, env: str | None = None) -> list[Diagnostic]:
    with pytest.raises(SpecError) as info:
        load(root, env, use_cache=False)
    return info.value.diagnostics


def one(diags: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in diags if d.code == code]
    assert len(found) == 1, f"expected one {code}, got {[(d.code, d.message) for d in diags]}"
    return found[0]


def where(d: Diagnostic) -> tuple[str, int, int]:
    assert d.location is not None
    return d.location.file, d.location.line, d.location.column


MakeProject = Callable[..., Path]


def test_unknown_field_suggests_the_closest(make_project: MakeProject) -> None:
    root = make_project(
        {
            "specs/f.yaml": """
            apiVersion: modelplane/v1
            kind: Feature
            metadata: {name: f1, owner: t}
            spec:
              entity: user_id
              inputs: [{dataset: events, columns: [user_id]}]
              colums:
                - {name: user_id, type: string}
            """,
            "specs/d.yaml": DATASET,
        }
    )
    diags = errors_of(root)
    d = one(diags, "unknown-field")
    assert where(d) == ("specs/f.yaml", 7, 3)
    assert d.message == "unknown field `colums` in spec"
    assert d.hint == "did you mean `columns`?"
    assert d.snippet == "  colums:"
    # one mistake, one error: the required `columns` it was meant to be is not reported missing too
    assert [d.code for d in diags] == ["unknown-field"]


def test_unknown_kind_and_api_version(make_project: MakeProject) -> None:
    root = make_project(
        {
            "specs/a.yaml": "apiVersion: modelplane/v1\nkind: Modle\nmetadata: {name: m, owner: t}\nspec: {}\n",
            "specs/b.yaml": DATASET.replace("modelplane/v1", "modelplane/v2"),
        }
    )
    diags = errors_of(root)
    kind = one(diags, "unknown-kind")
    assert where(kind) == ("specs/a.yaml", 2, 7)
    assert kind.hint == "did you mean `Model`?"
    api = one(diags, "unsupported-api-version")
    assert where(api) == ("specs/b.yaml", 1, 13)
    assert api.hint == "use `apiVersion: modelplane/v1`"


def test_duplicate_mapping_key(make_project: MakeProject) -> None:
    text = DATASET.replace("  format: delta\n", "  format: delta\n  format: parquet\n")
    diags = errors_of(make_project({"specs/d.yaml": text}))
    d = one(diags, "duplicate-key")
    assert where(d) == ("specs/d.yaml", 9, 3)
    assert "`format`" in d.message
    assert d.hint is not None and "last value" in d.hint


def test_duplicate_kind_and_name_names_both_places(make_project: MakeProject) -> None:
    root = make_project({"specs/a.yaml": DATASET, "specs/b.yaml": "# again\n" + DATASET})
    d = one(errors_of(root), "duplicate-name")
    assert where(d) == ("specs/b.yaml", 5, 9)
    assert d.message == "dataset/events is defined twice"
    assert [(m, str(loc)) for m, loc in d.related] == [("first defined here", "specs/a.yaml:4:9")]


def test_tab_indentation(make_project: MakeProject) -> None:
    text = DATASET.replace("  owner: team-data", "\towner: team-data")
    d = one(errors_of(make_project({"specs/d.yaml": text})), "tab-indentation")
    assert where(d) == ("specs/d.yaml", 5, 1)
    assert d.hint is not None and "spaces" in d.hint


def test_non_utf8_file(make_project: MakeProject) -> None:
    raw = DATASET.encode().replace(b"team-data", b"team-d\xe9ta")
    d = one(errors_of(make_project({"specs/d.yaml": raw})), "not-utf8")
    assert where(d) == ("specs/d.yaml", 5, 16)
    assert "0xe9" in d.message


def test_empty_documents(make_project: MakeProject) -> None:
    root = make_project({"specs/d.yaml": DATASET + "---\n# nothing here\n"})
    d = one(errors_of(root), "empty-document")
    assert where(d) == ("specs/d.yaml", 13, 1)
    assert d.message == "document 2 is empty"


def test_undefined_variable_suggests_defined_ones(make_project: MakeProject) -> None:
    text = DATASET.replace("s3://lake/events/", "s3://${var.bucekt}/events/")
    d = one(errors_of(make_project({"specs/d.yaml": text})), "undefined-variable")
    assert where(d) == ("specs/d.yaml", 7, 13)
    assert d.message == "undefined variable `var.bucekt`"
    # the minimal project defines `stack` only: nothing close, so the hint lists what exists
    assert d.hint == "defined variables: `stack`"


def test_alias_expansion_is_bounded(make_project: MakeProject) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefg", "bcdefgh", strict=True)
    )
    d = one(errors_of(make_project({"specs/bomb.yaml": bomb})), "alias-limit")
    assert where(d) == ("specs/bomb.yaml", 2, 8)
    assert "limits.max_alias_events" in (d.hint or "")


def test_file_over_size_limit(make_project: MakeProject) -> None:
    project = "name: demo\nlimits: {max_file_bytes: 2048}\n"
    big = DATASET + "".join(f"# padding line {i}\n" for i in range(200))
    d = one(errors_of(make_project({"specs/big.yaml": big}, project=project)), "file-too-large")
    assert where(d) == ("specs/big.yaml", 1, 1)
    assert "2,048" in d.message
    assert "max_file_bytes" in (d.hint or "")


def test_dangling_and_wrong_kind_references(make_project: MakeProject) -> None:
    root = make_project(
        {
            "specs/d.yaml": DATASET,
            "specs/f.yaml": """
            apiVersion: modelplane/v1
            kind: Feature
            metadata: {name: f1, owner: t}
            spec:
              entity: user_id
              inputs: [{dataset: evnts, columns: [user_id]}]
              columns: [{name: user_id, type: string}]
            ---
            apiVersion: modelplane/v1
            kind: Service
            metadata: {name: app, owner: t}
            spec:
              consumes: [feature/f1, model/events]
              tier: 1
            """,
        }
    )
    diags = errors_of(root)
    dangling = one(diags, "dangling-reference")
    assert where(dangling) == ("specs/f.yaml", 6, 22)
    assert dangling.message == "spec.inputs[0].dataset: no dataset named `evnts`"
    assert dangling.hint == "did you mean `events`?"
    wrong = one(diags, "wrong-kind-reference")
    assert where(wrong) == ("specs/f.yaml", 13, 26)
    assert wrong.message == "spec.consumes[1]: `events` is a dataset, but spec.consumes[1] must name a model"


def test_reference_to_a_node_of_another_kind(make_project: MakeProject) -> None:
    root = make_project(
        {
            "specs/d.yaml": DATASET,
            "specs/e.yaml": """
            apiVersion: modelplane/v1
            kind: Evaluation
            metadata: {name: ev, owner: t}
            spec:
              model: events
              dataset: events
              command: [run]
              metrics: [{name: acc, min: 0.5}]
            """,
        }
    )
    d = one(errors_of(root), "wrong-kind-reference")
    assert where(d) == ("specs/e.yaml", 5, 10)
    assert d.message == "spec.model: `events` is a dataset, but spec.model must name a model"


def test_invalid_values_explain_the_rule(make_project: MakeProject) -> None:
    text = DATASET.replace("name: events", "name: Events_Raw").replace("type: timestamp", "type: varchr")
    diags = errors_of(make_project({"specs/d.yaml": text}))
    by_line = {where(d)[1]: d for d in diags}
    assert by_line[4].message == "metadata.name: `Events_Raw` is not a valid name"
    assert "lower-case" in (by_line[4].hint or "")
    assert by_line[12].message == "spec.schema.columns[1].type: unknown column type `varchr`"
    assert where(by_line[12]) == ("specs/d.yaml", 12, 26)


def test_yaml_syntax_error(make_project: MakeProject) -> None:
    text = DATASET.replace("columns:\n", "columns: [\n", 1)
    d = one(errors_of(make_project({"specs/d.yaml": text})), "yaml-syntax")
    assert d.location is not None and d.location.file == "specs/d.yaml"
    assert d.location.line >= 10
    assert d.message.startswith("invalid YAML:")


def test_an_unclosed_bracket_at_the_end_points_where_it_opened(make_project: MakeProject) -> None:
    text = DATASET.rstrip("\n") + "\n  tags: [a, b\n"
    last = text.count("\n")
    d = one(errors_of(make_project({"specs/d.yaml": text})), "yaml-syntax")
    assert where(d) == ("specs/d.yaml", last, 9)  # the `[`, not the line after the file's last
    assert d.snippet == "  tags: [a, b"


def test_all_errors_of_a_run_are_reported_together(make_project: MakeProject) -> None:
    root = make_project(
        {
            "specs/a.yaml": DATASET.replace("format: delta", "format: deltta"),
            "specs/b.yaml": "a: 1\na: 2\n",
            "specs/c.yaml": DATASET.replace("name: events", "name: other").replace("uri: s3", "url: s3"),
        }
    )
    diags = errors_of(root)
    assert {d.location.file for d in diags if d.location} == {"specs/a.yaml", "specs/b.yaml", "specs/c.yaml"}
    literal = next(d for d in diags if d.location and d.location.file == "specs/a.yaml")
    assert literal.hint == "did you mean `delta`?"
    # `url` is the misspelt required `uri`: one error, not a missing `uri` as well
    assert [(d.code, d.hint) for d in diags if d.location and d.location.file == "specs/c.yaml"] == [
        ("unknown-field", "did you mean `uri`?")
    ]


def test_unknown_environment_and_unused_override(make_project: MakeProject) -> None:
    project = (
        "name: demo\nenvironments:\n  dev: {}\n  prod:\n    overrides:\n"
        "      dataset/evnts: {spec: {format: parquet}}\n"
    )
    root = make_project({"specs/d.yaml": DATASET}, project=project)
    env = one(errors_of(root, "prd"), "unknown-environment")
    assert env.hint == "did you mean `prod`?"
    override = one(errors_of(root, "prod"), "unknown-override")
    assert override.hint == "did you mean `dataset/events`?"


def test_project_file_errors_point_into_it(make_project: MakeProject) -> None:
    root = make_project({"specs/d.yaml": DATASET}, project="name: demo\nenvironmnets: {dev: {}}\n")
    d = one(errors_of(root), "unknown-field")
    assert where(d) == ("modelplane.yaml", 2, 1)
    assert d.hint == "did you mean `environments`?"


def test_valid_documents_beside_an_invalid_one_still_answer_references(make_project: MakeProject) -> None:
    """One bad document in a file must not make references to its valid neighbours look dangling."""
    model = (
        "apiVersion: modelplane/v1\nkind: Model\nmetadata: {name: chat, owner: t}\n"
        "spec: {version: '1', artifact: 'file://m', parameters_b: 1}\n"
    )
    stack = "apiVersion: modelplane/v1\nkind: Stack\nmetadata: {name: s, owner: t}\nspec: {provider: local}\n"
    endpoint = (
        "apiVersion: modelplane/v1\nkind: Endpoint\nmetadata: {name: chat, owner: t}\n"
        "spec: {model: chat, stack: s, resources: {accelerator: L4},"
        " traffic: {qps: 1, input_tokens: 1, output_tokens: 1}, slo: {p99_latency_ms: 1000, availability: 0.99},"
        " autoscaling: {min_replicas: 1, max_replicas: 1}}\n"
    )
    root = make_project(
        {
            "specs/a.yaml": DATASET.replace("format: delta", "format: deltta") + "---\n" + model,
            "specs/b.yaml": stack + "---\n" + endpoint,
        }
    )
    diags = errors_of(root)
    assert len(diags) == 1 and diags[0].location is not None and diags[0].location.file == "specs/a.yaml"
    assert "deltta" in diags[0].message
