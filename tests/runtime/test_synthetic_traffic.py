"""Synthetic traffic takes the endpoint's shape: declared lengths, the streamed share, replayed prompts;
a prompt file that is not what it should be is an error naming the line."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from modelplane.runtime.local.synthetic import Shape, _bodies, read_prompts


def test_default_prompts_have_the_declared_shape_and_stream_share() -> None:
    bodies = list(
        itertools.islice(_bodies(Shape(model="m", input_tokens=7, output_tokens=9, stream_fraction=0.25)), 400)
    )
    path, body = bodies[0]
    assert path == "/v1/completions" and len(body["prompt"].split()) == 7 and body["max_tokens"] == 9
    streamed = sum(1 for _, b in bodies if b.get("stream"))
    assert 60 < streamed < 140  # about a quarter


def test_replayed_prompts_in_turn_chat_and_completion(tmp_path: Path) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "fix: teh cat"}\n\n{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}\n')
    prompts = read_prompts(f)
    (p1, b1), (p2, b2), (p3, _) = itertools.islice(_bodies(Shape(model="m", prompts=prompts)), 3)
    assert (p1, b1["prompt"], b1["model"]) == ("/v1/completions", "fix: teh cat", "m")
    assert p2 == "/v1/chat/completions" and b2["max_tokens"] == 3 and p3 == "/v1/completions"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("not json\n", ":1: not JSON"),
        ('{"text": "x"}\n', ':1: each line is an object with "prompt"'),
        ("\n", "no prompts"),
    ],
)
def test_a_bad_prompt_file_names_the_line(tmp_path: Path, text: str, error: str) -> None:
    f = tmp_path / "p.jsonl"
    f.write_text(text)
    with pytest.raises(ValueError, match=error):
        read_prompts(f)


async def test_the_preflight_reads_the_prompt_file_before_any_rollout(tmp_path: Path) -> None:
    from modelplane.runtime.preflight import _prompts
    from modelplane.runtime.temporal.messages import ActionSpec

    doc = {
        "apiVersion": "modelplane/v1",
        "kind": "Endpoint",
        "metadata": {"name": "e", "owner": "o"},
        "spec": {
            "model": "m",
            "stack": "s",
            "resources": {"accelerator": "L4"},
            "traffic": {"qps": 1},
            "slo": {"p99_latency_ms": 1000},
            "autoscaling": {"min_replicas": 1, "max_replicas": 1},
            "rollout": {"analysis": {"synthetic": {"prompts": "prompts/replay.jsonl"}}},
        },
    }
    action = ActionSpec(id="rollout:endpoint/e", type="rollout", target="endpoint/e", node=doc)
    (problem,) = _prompts(tmp_path, action)
    assert "endpoint/e: rollout.analysis.synthetic.prompts cannot be replayed" in problem.what
    assert "replay.jsonl" in problem.what and "JSONL" in problem.hint
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "replay.jsonl").write_text('{"prompt": "hello"}\n')
    assert _prompts(tmp_path, action) == []
