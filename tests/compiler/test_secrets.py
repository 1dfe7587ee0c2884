"""Secret references: kept verbatim by the compiler, refused where a field cannot take one, rendered for
Kubernetes as ``$(MP_SECRET_NAME)`` with a ``secretKeyRef``, checked by the preflight, resolved only for the
process that needs them; and the warning about a credential-looking literal, which never prints it."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from modelplane.compiler.compile import compile_graph
from modelplane.compiler.load.interpolate import Unresolved, interpolate
from modelplane.compiler.load.secrets import kubernetes_arg, names_in, source, substitute
from modelplane.errors import SpecError
from modelplane.runtime.temporal.messages import ActionSpec
from modelplane.specs.base import NodeId
from tests.conftest import MINIMAL_PROJECT

HEAD = "apiVersion: modelplane/v1\n"
MODEL = (
    f"{HEAD}kind: Model\nmetadata: {{name: m, owner: t}}\nspec: {{version: '1', artifact: s3://m, parameters_b: 1}}\n"
)
STACK = f"{HEAD}kind: Stack\nmetadata: {{name: s, owner: t}}\nspec: {{provider: PROVIDER}}\n"
TOKEN = "tok-9f8e7d6c5b4a"  # what the secret holds in these tests: never in any compiled output


def endpoint(engine: str = "", extra: str = "") -> str:
    return (
        f"{HEAD}kind: Endpoint\nmetadata: {{name: e, owner: t}}\n"
        f"spec:\n  model: m\n  stack: s\n  resources: {{accelerator: L4}}\n  traffic: {{qps: 50}}\n"
        f"  slo: {{p99_latency_ms: 1000}}\n  autoscaling: {{min_replicas: 1, max_replicas: 2}}\n{engine}{extra}"
    )


def serving(provider: str = "local", engine: str = "", extra: str = "") -> dict[str, str]:
    return {"specs/s.yaml": "---\n".join([MODEL, STACK.replace("PROVIDER", provider), endpoint(engine, extra)])}


def _line(root: Path, text: str, file: str = "specs/s.yaml") -> int:
    return next(i for i, line in enumerate((root / file).read_text().splitlines(), 1) if text in line)


WITH_KEY = "  engine: {extra_args: {api-key: '${secret.VLLM_KEY}', hf-token: 'hf/${secret.HF_TOKEN}/$${x}'}}\n"


# -- the compiler keeps references -------------------------------------------------------------------------------


def test_interpolation_keeps_secret_references_and_their_escapes() -> None:
    problems: list[Unresolved] = []
    paths: list[tuple[str | int, ...]] = []
    doc = {"a": "${secret.TOKEN}", "b": "x-${var.v}-${secret.B}-$${lit}", "c": "$${secret.NOT}", "d": "$${plain}"}
    out = interpolate(doc, {"v": "V"}, problems, secrets=paths)
    assert problems == []
    assert out == {"a": "${secret.TOKEN}", "b": "x-V-${secret.B}-$${lit}", "c": "$${secret.NOT}", "d": "${plain}"}
    assert sorted(paths) == [("a",), ("b",)]  # an escaped `$${secret.NOT}` is not a reference
    assert names_in(out) == ["B", "TOKEN"]
    # what the runtime substitutes, with the escapes undone; an escaped reference stays literal text
    assert substitute(out["b"], lambda n: n.lower()) == "x-V-b-${lit}"
    assert substitute(out["c"], lambda n: "!") == "${secret.NOT}"


def test_a_variable_may_hold_a_reference() -> None:
    paths: list[tuple[str | int, ...]] = []
    out = interpolate({"k": "Bearer ${var.auth}"}, {"auth": "${secret.API}"}, [], secrets=paths)
    assert out == {"k": "Bearer ${secret.API}"} and paths == [("k",)]


def test_compiled_documents_plans_and_fingerprints_hold_the_reference(make_project: Callable[..., Path]) -> None:
    root = make_project(serving(engine=WITH_KEY))
    compiled = compile_graph(root, use_cache=False)
    doc = compiled.graph.nodes[NodeId("endpoint", "e")].normalized()
    assert doc["spec"]["engine"]["extra_args"] == {
        "api-key": "${secret.VLLM_KEY}",
        "hf-token": "hf/${secret.HF_TOKEN}/$${x}",
    }
    assert not [d for d in compiled.warnings if d.code == "credential-in-spec"]  # a reference is the fix


@pytest.mark.parametrize(
    ("text", "hint"),
    [("${secret.bad-name}", "not a secret name"), ("${secret.}", "not a secret name"), ("${ secret.X }", "spaces")],
)
def test_a_bad_secret_name_is_an_error_at_its_place(make_project: Callable[..., Path], text: str, hint: str) -> None:
    root = make_project(serving(engine=f"  engine: {{extra_args: {{api-key: '{text}'}}}}\n"))
    with pytest.raises(SpecError) as exc:
        compile_graph(root, use_cache=False)
    (d,) = [d for d in exc.value.diagnostics if d.code == "bad-secret-reference"]
    assert d.location is not None and (d.location.file, d.location.line) == ("specs/s.yaml", _line(root, "api-key"))
    assert d.location.column == 35  # at the `${`, inside the quotes
    assert hint in (d.hint or "")


def test_a_reference_where_a_field_cannot_take_one_is_an_error(make_project: Callable[..., Path]) -> None:
    files = serving()
    files["specs/s.yaml"] = files["specs/s.yaml"].replace("max_replicas: 2", "max_replicas: '${secret.N}'")
    root = make_project(files)
    with pytest.raises(SpecError) as exc:
        compile_graph(root, use_cache=False)
    codes = [d.code for d in exc.value.diagnostics]
    assert codes == ["secret-not-allowed"]  # not also a type error for the same field
    (d,) = exc.value.diagnostics
    assert "spec.autoscaling.max_replicas" in d.message and "engine.extra_args" in (d.hint or "")
    assert d.location is not None and d.location.line == _line(root, "max_replicas")


def test_where_references_are_allowed() -> None:
    from modelplane.compiler.load.loader import secret_allowed

    assert secret_allowed("Endpoint", ("spec", "engine", "extra_args", "api-key"))
    assert secret_allowed("Workflow", ("spec", "command", 2)) and secret_allowed("Evaluation", ("spec", "command"))
    assert secret_allowed("Dataset", ("spec", "uri")) and secret_allowed("Model", ("spec", "artifact"))
    assert secret_allowed("Stack", ("spec", "settings", "grafana_token"))
    assert not secret_allowed("Stack", ("spec", "settings", "prometheus_url"))  # read by modelplane itself
    assert not secret_allowed("Endpoint", ("spec", "engine", "image"))
    assert not secret_allowed("Endpoint", ("metadata", "name"))


# -- where each secret comes from ---------------------------------------------------------------------------------


def test_one_function_decides_the_source() -> None:
    declared = {"A": {"env": "HF_TOKEN"}, "B": {"file": "~/b"}, "C": {"kubernetes": {"secret": "keys", "key": "c"}}}
    assert source("A", declared, "process").env == "HF_TOKEN"
    assert source("B", declared, "process").file == "~/b"
    assert source("C", declared, "process").env == "MODELPLANE_SECRET_C"  # no process source declared
    assert (source("C", declared, "kubernetes").secret, source("C", declared, "kubernetes").key) == ("keys", "c")
    assert (source("Z", None, "kubernetes").secret, source("Z", None, "kubernetes").key) == ("modelplane-secrets", "Z")
    assert source("Z", None, "process").env == "MODELPLANE_SECRET_Z"


def test_the_plan_carries_sources_never_values(make_project: Callable[..., Path], monkeypatch: Any) -> None:
    from modelplane.compiler.compile import make_plan
    from modelplane.runtime.apply import executable

    monkeypatch.setenv("MODELPLANE_SECRET_VLLM_KEY", TOKEN)
    monkeypatch.setenv("HF", TOKEN)
    project = MINIMAL_PROJECT + "secrets:\n  HF_TOKEN: {env: HF}\n"
    root = make_project(serving(engine=WITH_KEY), project=project)
    result = make_plan(root, None)
    plan = executable(result.plan, result.head.graph, result.base)
    text = plan.model_dump_json()
    assert TOKEN not in text and "${secret.VLLM_KEY}" in text
    rollout = next(a for a in plan.execution.actions if a.id.startswith("rollout:"))  # type: ignore[union-attr]
    assert rollout.details.secrets == {"HF_TOKEN": {"env": "HF"}, "VLLM_KEY": {}}


# -- Kubernetes --------------------------------------------------------------------------------------------------


def test_kubernetes_args_use_dependent_env_expansion() -> None:
    assert kubernetes_arg("${secret.K}") == "$(MP_SECRET_K)"
    assert kubernetes_arg("a$b-${secret.K}-$${x}") == "a$$b-$(MP_SECRET_K)-$${x}"
    assert kubernetes_arg("plain $x") == "plain $x"  # untouched without a reference


def test_the_render_has_secret_key_refs_and_no_value(make_project: Callable[..., Path], monkeypatch: Any) -> None:
    from modelplane.stacks.render import render_stack

    monkeypatch.setenv("MODELPLANE_SECRET_VLLM_KEY", TOKEN)
    project = MINIMAL_PROJECT + "secrets:\n  HF_TOKEN: {kubernetes: {secret: hf, key: token}}\n"
    root = make_project(serving("kubernetes", engine=WITH_KEY), project=project)
    rendered = render_stack(compile_graph(root, use_cache=False).graph, "s")
    assert TOKEN not in json.dumps(rendered.objects)
    deployment = next(o for o in rendered.objects if o["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    args = container["args"]
    assert args[args.index("--api-key") + 1] == "$(MP_SECRET_VLLM_KEY)"
    assert args[args.index("--hf-token") + 1] == "hf/$(MP_SECRET_HF_TOKEN)/$${x}"
    assert container["env"] == [
        {"name": "MP_SECRET_HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token"}}},
        {
            "name": "MP_SECRET_VLLM_KEY",
            "valueFrom": {"secretKeyRef": {"name": "modelplane-secrets", "key": "VLLM_KEY"}},
        },
    ]
    assert "${secret." not in json.dumps(container)
    import kubernetes_validate

    kubernetes_validate.validate(deployment, "1.31", strict=True)  # env/valueFrom as the API server takes it


def test_the_plans_stack_inputs_render_secret_key_refs(make_project: Callable[..., Path]) -> None:
    from modelplane.compiler.compile import make_plan
    from modelplane.runtime.apply import executable

    root = make_project(serving("kubernetes", engine=WITH_KEY))
    result = make_plan(root, None)
    plan = executable(result.plan, result.head.graph, result.base)
    stack = plan.execution.stacks["s"]  # type: ignore[union-attr]
    (objects,) = stack.endpoints["e"].objects.values()
    container = objects[0]["spec"]["template"]["spec"]["containers"][0]
    assert "$(MP_SECRET_VLLM_KEY)" in container["args"]
    assert {e["name"] for e in container["env"]} == {"MP_SECRET_VLLM_KEY", "MP_SECRET_HF_TOKEN"}


# -- the runtime -------------------------------------------------------------------------------------------------


def _action(root: Path, secrets: dict[str, dict[str, Any]]) -> ActionSpec:
    return ActionSpec(
        id="run-workflow:workflow/w",
        type="run-workflow",
        target="workflow/w",
        node={"kind": "Workflow", "spec": {"command": ["true", "${secret.A}"]}},
        details={"secrets": secrets},
    )


def test_preflight_names_a_missing_secret_and_how_to_set_it(tmp_path: Path, monkeypatch: Any) -> None:
    from modelplane.runtime.preflight import check

    monkeypatch.delenv("MODELPLANE_SECRET_A", raising=False)
    problems = asyncio.run(check(tmp_path, "dev", [_action(tmp_path, {"A": {}})]))
    (p,) = problems
    assert "workflow/w" in p.what and "`A`" in p.what and "MODELPLANE_SECRET_A" in p.what
    assert "MODELPLANE_SECRET_A" in p.hint
    (tmp_path / "a.txt").write_text(TOKEN + "\n")
    assert asyncio.run(check(tmp_path, "dev", [_action(tmp_path, {"A": {"file": "a.txt"}})])) == []
    monkeypatch.setenv("MODELPLANE_SECRET_A", TOKEN)
    assert asyncio.run(check(tmp_path, "dev", [_action(tmp_path, {"A": {}})])) == []


def test_a_process_gets_values_only_in_its_argv_and_env(tmp_path: Path, monkeypatch: Any) -> None:
    from modelplane.runtime.secrets import for_process, spawn

    monkeypatch.setenv("MODELPLANE_SECRET_A", TOKEN)
    monkeypatch.setenv("MODELPLANE_SECRET_OTHER", "not-for-it")
    argv, env = for_process(["x", "--key=${secret.A}"], {}, tmp_path)
    assert argv == ["x", f"--key={TOKEN}"] and env == {"MP_SECRET_A": TOKEN}
    out = tmp_path / "got.json"
    script = "import json,os,sys; json.dump([sys.argv[1], dict(os.environ)], open(sys.argv[2], 'w'))"
    cmd = [sys.executable, "-c", script, "${secret.A}", str(out)]
    ident = spawn(cmd, {}, tmp_path / "log", tmp_path)
    assert ident.cmdline == cmd  # recorded in the reference form
    from modelplane.runtime.procs import _same_cmdline

    assert _same_cmdline(cmd, [*cmd[:3], TOKEN, str(out)]) and not _same_cmdline(cmd, [*cmd[:3], TOKEN, "other"])
    for _ in range(200):
        if out.exists() and out.stat().st_size:
            break
        asyncio.run(asyncio.sleep(0.02))
    got_arg, got_env = json.loads(out.read_text())
    assert got_arg == TOKEN and got_env["MP_SECRET_A"] == TOKEN
    assert "MODELPLANE_SECRET_OTHER" not in got_env and "MODELPLANE_SECRET_A" not in got_env
    assert TOKEN not in (tmp_path / "log").read_text()


# -- the credential warning --------------------------------------------------------------------------------------

LITERALS = {
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_" + "a1B2c3D4e5" * 4,
    "hf": "hf_" + "AbCdEfGhIj" * 4,
    "openai": "sk-proj-" + "x1y2z3" * 5,
    "slack": "xoxb-1234567890-abcdefghij",
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}


@pytest.mark.parametrize("name", sorted(LITERALS))
def test_a_credential_in_extra_args_is_a_masked_warning(make_project: Callable[..., Path], name: str) -> None:
    value = LITERALS[name]
    root = make_project(serving(engine=f"  engine: {{extra_args: {{api-key: '{value}'}}}}\n"))
    compiled = compile_graph(root, use_cache=False)
    (w,) = [d for d in compiled.warnings if d.code == "credential-in-spec"]
    assert w.severity == "warning" and "spec.engine.extra_args.api-key" in w.message
    assert w.location is not None and (w.location.file, w.location.line) == ("specs/s.yaml", _line(root, "api-key"))
    assert "${secret.NAME}" in (w.hint or "")
    shown = json.dumps(w.to_json()) + (w.snippet or "")
    assert value not in shown and value[4:12] not in shown
    assert w.snippet is not None and "****" in w.snippet


def test_credentials_in_commands_uris_and_named_flags(make_project: Callable[..., Path]) -> None:
    files = serving(engine="  engine: {extra_args: {hf-token: plain-literal-value, max-num-batched-tokens: 8}}\n")
    files["specs/w.yaml"] = (
        f"{HEAD}kind: Dataset\nmetadata: {{name: d, owner: t}}\n"
        "spec: {uri: 'postgresql://app:hunter2pass@db:5432/x', format: table, schema: {columns: [{name: id, type: string}]}}\n"
        f"---\n{HEAD}kind: Workflow\nmetadata: {{name: w, owner: t}}\n"
        "spec:\n  outputs: [dataset/d]\n  command: [train, --password, s3cr3t-literal, '--token=abc', --token-file, /f]\n"
    )
    compiled = compile_graph(make_project(files), use_cache=False)
    found = sorted(d.message.split("`")[1] for d in compiled.warnings if d.code == "credential-in-spec")
    assert found == ["spec.command.2", "spec.command.3", "spec.engine.extra_args.hf-token", "spec.uri"]
    text = json.dumps([d.to_json() for d in compiled.warnings]) + "".join(d.snippet or "" for d in compiled.warnings)
    for literal in ("plain-literal-value", "hunter2pass", "s3cr3t-literal"):
        assert literal not in text


def test_a_reference_or_a_password_by_reference_is_no_warning(make_project: Callable[..., Path]) -> None:
    files = serving(engine="  engine: {extra_args: {api-key: '${secret.K}'}}\n")
    files["specs/d.yaml"] = (
        f"{HEAD}kind: Dataset\nmetadata: {{name: d, owner: t}}\n"
        "spec: {uri: 'postgresql://app:${secret.DB}@db/x', format: table, schema: {columns: [{name: id, type: string}]}}\n"
    )
    compiled = compile_graph(make_project(files), use_cache=False)
    assert [d for d in compiled.warnings if d.code == "credential-in-spec"] == []


def test_env_is_clean_for_children(monkeypatch: Any) -> None:
    from modelplane.runtime.secrets import child_environ

    monkeypatch.setenv("MODELPLANE_SECRET_Q", "v")
    env = child_environ({"MP_SECRET_Q": "v"})
    assert "MODELPLANE_SECRET_Q" not in env and env["MP_SECRET_Q"] == "v" and env["PATH"] == os.environ["PATH"]


def test_the_credentials_rule_reads_the_same_values_from_a_model_as_from_the_document(
    make_project: Callable[..., Path],
) -> None:
    """Where this process built a node's model, the rule reads its text fields from it (no decoding): the very
    values of the normalized document, a command written as one string included."""
    from modelplane.compiler.graph.checks import _credential_fields, _text_field
    from modelplane.compiler.load.specset import SpecNode

    files = serving(engine="")
    files["specs/w.yaml"] = (
        f"{HEAD}kind: Dataset\nmetadata: {{name: d, owner: t}}\n"
        "spec: {uri: 'postgresql://app:hunter2pass@db:5432/x', format: table, schema: {columns: [{name: id, type: string}]}}\n"
        f"---\n{HEAD}kind: Workflow\nmetadata: {{name: w, owner: t}}\n"
        "spec:\n  outputs: [dataset/d]\n  command: train --password s3cr3t-literal --epochs 2\n"
    )
    graph = compile_graph(make_project(files), use_cache=False).graph
    compared = 0
    for node in graph.nodes.values():
        field = _text_field(node.kind)
        if field is None:
            continue
        assert node.has_model
        from_document = SpecNode(node.id, node.kind, node.file, node.index, node.json)  # decoded on read
        assert _credential_fields(node) == {field: from_document.spec.get(field)}
        compared += 1
    assert compared >= 3  # the dataset, the workflow and the served model


def test_a_credential_among_a_commands_plain_arguments_is_found(make_project: Callable[..., Path]) -> None:
    """Commands whose arguments name no flag are searched all at once (``none_look_like_credentials``): one
    holding a credential shape among many that do not is still reported, at its argument."""
    files = serving()
    token = "hf_" + "A1b2C3d4E5" * 4
    files["specs/w.yaml"] = (
        f"{HEAD}kind: Dataset\nmetadata: {{name: d, owner: t}}\n"
        "spec: {uri: 's3://b/d', format: table, schema: {columns: [{name: id, type: string}]}}\n"
        f"---\n{HEAD}kind: Workflow\nmetadata: {{name: w, owner: t}}\n"
        "spec:\n  outputs: [dataset/d]\n  command: [python3, train.py, d-train]\n"
        f"---\n{HEAD}kind: Workflow\nmetadata: {{name: w2, owner: t}}\n"
        f"spec:\n  outputs: [dataset/d]\n  command: [python3, train.py, {token}]\n"
    )
    compiled = compile_graph(make_project(files), use_cache=False)
    found = [d for d in compiled.warnings if d.code == "credential-in-spec"]
    assert [(d.message.split(":")[0], d.message.split("`")[1]) for d in found] == [("workflow/w2", "spec.command.2")]
    assert token not in json.dumps([d.to_json() for d in found])
