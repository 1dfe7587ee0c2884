"""The weights a retrain registered, in the plan: revision ids cover their digest while the model's spec is the
one they were trained for (an in-place change stays in place), and a version bump serves the declared artifact
again. The retrain itself (the plan's line, the apply) is tests/integration/test_retrain_rollout.py."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from modelplane.compiler.change.state import AppliedNode, AppliedState, TrainedArtifact
from modelplane.compiler.compile import compile_graph, make_plan
from modelplane.compiler.plan.artifacts import spec_hash
from modelplane.compiler.plan.execution import executable
from modelplane.specs.base import NodeId
from modelplane.stacks.engine import revision_id, trained_revision
from tests.conftest import EXAMPLES

DIGEST = "sha256:" + "ab" * 32


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    return root


def _state(root: Path) -> tuple[AppliedState, str]:
    """Everything applied as it is, and a retrain's artifact registered for the model's current spec."""
    head = compile_graph(root, use_cache=False).graph
    applied = {str(n.id): AppliedNode(n.kind, n.file, n.index, n.data) for n in head.nodes.values()}
    model = head.nodes[NodeId("model", "tiny-chat")]
    trained = TrainedArtifact(DIGEST, "/runs/2/output", spec_hash(model.data), "2.x")
    spec_rev = revision_id(head.nodes[NodeId("endpoint", "tiny-chat")].data, model.data)
    return AppliedState(9, applied, {}, {"model/tiny-chat": trained}, {"endpoint/tiny-chat": DIGEST}), spec_rev


class _Reader:
    def __init__(self, state: AppliedState) -> None:
        self.state = state

    def applied(self, environment: str) -> AppliedState:
        return self.state


def _rollout(root: Path, state: AppliedState) -> dict[str, Any]:
    result = make_plan(root, state=_Reader(state), use_cache=False)
    plan = executable(result.plan, result.head.graph, result.base)
    assert plan.execution is not None
    [action] = [a for a in plan.execution.actions if a.id == "rollout:endpoint/tiny-chat"]
    return {**action.details.to_json(), "reason": next(a.reason for a in plan.actions if a.id == action.id)}


def test_trained_revision_is_a_hash_of_the_spec_revision_and_the_digest() -> None:
    assert trained_revision("r1234abcd", DIGEST) == trained_revision("r1234abcd", DIGEST)
    assert trained_revision("r1234abcd", DIGEST) != trained_revision("r1234abcd", DIGEST[:-1] + "c")
    assert revision_id({"spec": {}}, None, DIGEST) == trained_revision(revision_id({"spec": {}}, None), DIGEST)


def test_an_in_place_change_after_a_retrain_keeps_the_trained_revision(tmp_path: Path) -> None:
    root = _project(tmp_path)
    state, spec_rev = _state(root)
    serving = root / "specs" / "serving.yaml"
    serving.write_text(serving.read_text().replace("max_replicas: 4", "max_replicas: 6"))
    details = _rollout(root, state)
    assert details["in_place"] is True
    assert details["revision"] == trained_revision(spec_rev, DIGEST)
    assert details["artifact"] == {"digest": DIGEST, "path": "/runs/2/output"}  # what its replicas load


def test_a_retrain_that_did_not_roll_out_goes_out_with_the_next_rollout(tmp_path: Path) -> None:
    """Its blocking evaluation failed: the artifact is registered, the endpoint still serves the one before.
    An in-place change is then no longer in place, and the plan says what else goes out."""
    root = _project(tmp_path)
    state, spec_rev = _state(root)
    state = replace(state, served={"endpoint/tiny-chat": "sha256:" + "cd" * 32})
    serving = root / "specs" / "serving.yaml"
    serving.write_text(serving.read_text().replace("max_replicas: 4", "max_replicas: 6"))
    details = _rollout(root, state)
    assert "in_place" not in details and details["revision"] == trained_revision(spec_rev, DIGEST)
    assert details["reason"].endswith(f"rolls out the artifact a retrain registered ({DIGEST[:19]}), not yet serving")


def test_a_new_revision_after_a_retrain_serves_the_trained_weights(tmp_path: Path) -> None:
    root = _project(tmp_path)
    state, spec_rev = _state(root)
    serving = root / "specs" / "serving.yaml"
    serving.write_text(serving.read_text().replace("max_num_seqs: 64", "max_num_seqs: 32"))
    details = _rollout(root, state)
    assert "in_place" not in details and details["artifact"]["digest"] == DIGEST
    assert details["revision"] not in (spec_rev, trained_revision(spec_rev, DIGEST))


def test_a_version_bump_serves_the_declared_artifact_again(tmp_path: Path) -> None:
    root = _project(tmp_path)
    state, _ = _state(root)
    model = root / "specs" / "model.yaml"
    model.write_text(model.read_text().replace('version: "1.0.0"', 'version: "1.1.0"'))
    details = _rollout(root, state)
    assert "artifact" not in details  # trained for 1.0.0's spec: not what 1.1.0 serves
    head = compile_graph(root, use_cache=False).graph
    ep, m = head.nodes[NodeId("endpoint", "tiny-chat")], head.nodes[NodeId("model", "tiny-chat")]
    assert details["revision"] == revision_id(ep.data, m.data)


def test_new_training_data_plans_the_canary_of_the_trained_artifact(tmp_path: Path) -> None:
    root = _project(tmp_path)
    state, _ = _state(root)
    data = root / "specs" / "data.yaml"
    data.write_text(data.read_text().replace("support-pairs.jsonl", "support-pairs-v2.jsonl"))
    details = _rollout(root, state)
    assert details["reason"].endswith(
        "endpoint/tiny-chat rolls out the artifact trained in this apply as a canary, "
        "gated by evaluation/tiny-chat-quality"
    )
    assert details["trained_by"] == "run-workflow:workflow/finetune-tiny-chat"
    assert "artifact" not in details  # its weights are the ones this apply trains: the workflow passes them on
