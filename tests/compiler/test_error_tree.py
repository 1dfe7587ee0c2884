"""One error tree: everything a user can fix is a ``ModelplaneError`` (printed as diagnostics, exit 1)."""

from __future__ import annotations

from modelplane.compiler.graph.lineage import CycleError
from modelplane.errors import ActionFailed, GraphError, ModelplaneError, SelectorError
from modelplane.specs.base import NodeId


def test_a_cycle_is_a_graph_error_with_its_diagnostic() -> None:
    a, b = NodeId("dataset", "a"), NodeId("feature", "b")
    exc = CycleError([a, b, a], graph=None)  # type: ignore[arg-type]
    assert isinstance(exc, GraphError) and exc.path == [a, b, a]
    [d] = exc.diagnostics
    assert (d.code, d.message) == ("cycle", "lineage cycle: dataset/a -> feature/b -> dataset/a")
    assert d.hint and "one way" in d.hint


def test_an_action_failure_carries_its_hint_as_a_diagnostic_and_in_its_details() -> None:
    exc = ActionFailed("model/x: command exited with 2", {"log": "/tmp/x.log"}, hint="see the full log in /tmp/x.log")
    assert isinstance(exc, ModelplaneError) and not exc.retryable
    assert str(exc) == "model/x: command exited with 2"
    assert exc.details == {"log": "/tmp/x.log", "hint": "see the full log in /tmp/x.log"}  # what crosses Temporal
    assert exc.diagnostics[0].hint == "see the full log in /tmp/x.log"
    assert ActionFailed("no hint").details == {}
    assert issubclass(SelectorError, ModelplaneError)
