"""A diagnostic has one JSON form (``Diagnostic.to_json``): the CLI's ``--format json``, the compile caches,
the language server's ``data`` and, by its declared fields, a plan's ``diagnostics`` all use it."""

from __future__ import annotations

import inspect

import modelplane.compiler.incremental.graph_cache as graph_cache
from modelplane.compiler.plan.model import PlanDiagnostic
from modelplane.errors import Diagnostic, Location


def _rich() -> Diagnostic:
    return Diagnostic(
        "unknown-kind",
        "unknown kind `Modle`",
        Location("specs/a.yaml", 2, 7),
        "did you mean `Model`?",
        "kind: Modle",
        5,
        (("declared here", Location("specs/b.yaml", 1, 1)),),
        "warning",
        ("dev", "prod"),
    )


def test_the_json_form_reads_back_whole() -> None:
    for d in (_rich(), Diagnostic("error", "no location"), Diagnostic("w", "m", Location("f", 3, 4), width=9)):
        assert Diagnostic.from_json(d.to_json()) == d


def test_the_json_form_keeps_the_keys_cli_users_read_and_adds_the_caret() -> None:
    form = _rich().to_json()
    assert list(form) == [
        "file", "line", "column", "code", "severity", "message", "hint", "related", "snippet", "width", "environments"
    ]  # fmt: skip
    assert form["related"] == [{"message": "declared here", "file": "specs/b.yaml", "line": 1, "column": 1}]
    assert "environments" not in Diagnostic("c", "m").to_json()  # only when several environments were checked


def test_a_plans_diagnostic_is_the_fields_of_the_one_form_its_format_declares() -> None:
    d = _rich()
    planned = PlanDiagnostic.of(d)
    assert planned.model_dump() == {k: v for k, v in d.to_json().items() if k in PlanDiagnostic.model_fields}
    assert list(planned.model_dump()) == ["code", "severity", "message", "file", "line", "column", "hint"]


def test_no_second_serializer_is_left() -> None:
    assert not hasattr(graph_cache, "diag_to_json") and not hasattr(graph_cache, "diag_from_json")
    assert "Diagnostic.from_json" in inspect.getsource(graph_cache)
