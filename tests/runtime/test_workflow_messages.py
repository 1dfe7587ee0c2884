"""The workflows' signals, updates and queries are sent by method reference, under the names recorded
histories hold (``tests/histories``): renaming a handler method would break replay, so the names are pinned."""

from __future__ import annotations

import re

from temporalio import workflow

from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow, EndpointRolloutWorkflow
from tests.conftest import REPO

BY_NAME = re.compile(r"""\.(signal|query|execute_update|start_update)\(\s*["']""")
"""A message sent by its name as a string literal (``handle.signal("pause")``)."""


def test_message_names_are_the_ones_histories_hold() -> None:
    apply = workflow._Definition.from_class(ApplyPlanWorkflow)  # the SDK's own reading of the decorators
    rollout = workflow._Definition.from_class(EndpointRolloutWorkflow)
    assert apply is not None and rollout is not None
    assert set(apply.signals) == {"pause", "resume", "abort", "gate_waiting", "gate_cleared", "rollout_status"}
    assert set(apply.updates) == {"approve"} and set(apply.queries) == {"progress"}
    assert set(rollout.signals) == {"approve", "abort"} and set(rollout.queries) == {"step"}


def test_no_message_is_sent_by_a_string_name() -> None:
    found = [
        f"{path.relative_to(REPO)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0).strip()}"
        for folder in ("runtime", "modelplane", "compiler")
        for path in sorted((REPO / folder).rglob("*.py"))
        for text in [path.read_text()]
        for m in BY_NAME.finditer(text)
    ]
    assert not found, "send workflow messages by method reference (handle.signal(Workflow.method)):\n" + "\n".join(
        found
    )


def test_the_rollout_reads_its_steps_results_typed() -> None:
    from modelplane.runtime.temporal.messages import Deployed, RouterUp

    # as the local and Pulumi provisioners return them (extra keys are the provisioner's, not read)
    assert Deployed.model_validate({"stable": "r1", "revisions": {"r1": "stable", "r2": None}}).stable == "r1"
    assert Deployed.model_validate({"stable": None, "revisions": {}}).stable is None
    up = RouterUp.model_validate({"url": "http://127.0.0.1:9000", "pid": 42, "extra": 1})
    assert (up.url, up.pid) == ("http://127.0.0.1:9000", 42)
