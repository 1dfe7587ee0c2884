"""Preflight: before an apply's first side effect, check everything its actions will need on this worker.

Run by the ``preflight`` activity at the start of ``ApplyPlan``, on the worker
that will run the actions (where the CLI, plugins and credentials must be). A
problem stops the apply with no action run, the state and the ledger left as
they were, and names what to install or set. Checked per stack the plan
provisions, rolls out on or decommissions:

- Kubernetes stacks (kubernetes, aws-eks, gcp-gke; Pulumi): the Pulumi CLI, the
  Pulumi Python packages of the provider, the passphrase of the stack's secrets,
  a writable file backend, and the cluster or cloud credentials.
- local: the Python interpreter the replicas and routers run with, a writable
  ``.modelplane/local``, and a free loopback port.

And for every ``run-workflow`` and ``evaluate`` action, that its command's
program exists (on PATH, or relative to the project root, where it runs); for
every rollout that replays prompts as synthetic traffic, that the file reads;
for every secret an action resolves on this worker (a command's, a local
replica's), that it can be read from its source now (read and dropped: the
problem names the secret, the action and how to set it, never a value). A
secret a Kubernetes pod reads comes from a Secret in the cluster, which the
kubelet reads; it is not checked here.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import socket
import sys
from pathlib import Path
from typing import Any

from modelplane.runtime.temporal.messages import ActionSpec, PreflightProblem
from modelplane.specs.providers import registry as providers

STACK_ACTIONS = ("provision", "rollout", "decommission")
PULUMI_PACKAGES = {p: d.pulumi_packages for p in providers.names() if (d := providers.get(p)).pulumi_packages}
"""provider -> the Python packages its Pulumi program needs (each provider says so in specs/providers/)."""
EXTRAS = {d.pool_package: d.extra for p in providers.names() if (d := providers.get(p)).pool_package and d.extra}


async def check(root: Path, environment: str, actions: list[ActionSpec]) -> list[PreflightProblem]:
    problems: list[PreflightProblem] = []
    seen_stacks: set[str] = set()
    seen_programs: set[str] = set()
    for a in actions:
        if a.type in STACK_ACTIONS and a.details.stack:
            stack = a.details.stack
            if stack not in seen_stacks:
                seen_stacks.add(stack)
                problems += _stack(root, stack, _provider(a), _pulumi_settings(a))
            if a.type == "rollout":
                problems += _prompts(root, a)
        elif a.type in ("run-workflow", "evaluate") and a.node is not None:
            command = list(a.node.get("spec", {}).get("command") or [])
            if command and command[0] not in seen_programs:
                seen_programs.add(command[0])
                problems += _program(root, a, command)
        problems += _secrets(root, a)
    return problems


def _secrets(root: Path, a: ActionSpec) -> list[PreflightProblem]:
    """The secrets ``a`` resolves on this worker, each readable now (a pod's are the kubelet's to read)."""
    declared = a.details.secrets
    if not declared or (a.type in STACK_ACTIONS and _provider(a) != "local"):
        return []
    from modelplane.runtime.secrets import check as check_secrets

    return [
        PreflightProblem(what=f"{a.target}: {missing}", hint=missing.source.hint())
        for missing in check_secrets(sorted(declared), declared, root)
    ]


def _provider(a: ActionSpec) -> str:
    if a.stack is not None:
        return str(a.stack["provider"])
    doc = a.context.get(f"stack/{a.details.stack}") or (a.node if a.target.startswith("stack/") else None)
    return str((doc or {}).get("spec", {}).get("provider", "local"))


def _pulumi_settings(a: ActionSpec) -> dict[str, Any]:
    if a.stack is not None:
        return dict(a.stack.get("pulumi") or {})
    doc = a.context.get(f"stack/{a.details.stack}") or {}
    return dict(doc.get("spec", {}).get("pulumi") or {})


def _stack(root: Path, stack: str, provider: str, pulumi: dict[str, Any]) -> list[PreflightProblem]:
    where = f"stack/{stack} ({provider})"
    if providers.is_local(provider):
        return _local(root, where)
    out: list[PreflightProblem] = []
    from modelplane.runtime.provisioners.pulumi import INSTALL_HINT, find_pulumi_cli

    missing_cli = find_pulumi_cli()
    if missing_cli is not None:
        out.append(
            PreflightProblem(what=f"{where}: the Pulumi CLI is not available ({missing_cli})", hint=INSTALL_HINT)
        )
    for pkg in PULUMI_PACKAGES.get(provider, ()):
        if importlib.util.find_spec(pkg) is None:
            extra = EXTRAS.get(pkg)
            out.append(
                PreflightProblem(
                    what=f"{where}: the Python package `{pkg}` is not installed on the worker",
                    hint=f"pip install 'modelplane[{extra}]'" if extra else f"pip install {pkg.replace('_', '-')}",
                )
            )
    backend = str(pulumi.get("backend_url") or "")
    if not backend or backend.startswith("file://"):
        if "PULUMI_CONFIG_PASSPHRASE" not in os.environ and "PULUMI_CONFIG_PASSPHRASE_FILE" not in os.environ:
            out.append(
                PreflightProblem(
                    what=f"{where}: no passphrase for the stack's secrets (a self-managed backend encrypts them)",
                    hint="set PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) in the worker's environment",
                )
            )
        folder = Path(backend.removeprefix("file://")) if backend else root / ".modelplane" / "pulumi"
        if not _writable(folder):
            out.append(
                PreflightProblem(
                    what=f"{where}: the Pulumi backend folder {folder} is not writable",
                    hint="fix its permissions, or set pulumi.backend_url on the stack",
                )
            )
    out += _credentials(where, provider)
    return out


def _credentials(where: str, provider: str) -> list[PreflightProblem]:
    env = os.environ
    home = Path.home()
    if provider == "kubernetes":
        kubeconfig = env.get("KUBECONFIG", "").split(os.pathsep)[0] or str(home / ".kube" / "config")
        if not Path(kubeconfig).is_file() and "KUBERNETES_SERVICE_HOST" not in env:
            return [
                PreflightProblem(
                    what=f"{where}: no cluster credentials (no kubeconfig at {kubeconfig}, not running in a cluster)",
                    hint="set KUBECONFIG to the cluster's kubeconfig, or run the worker in the cluster",
                )
            ]
    elif provider == "aws-eks":
        found = (
            any(k in env for k in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"))
            or any(k in env for k in ("AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"))
            or (home / ".aws" / "credentials").is_file()
            or (home / ".aws" / "config").is_file()
        )
        if not found:
            return [
                PreflightProblem(
                    what=f"{where}: no AWS credentials (no AWS_* variables, no ~/.aws/credentials)",
                    hint="set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run `aws configure`",
                )
            ]
    elif provider == "gcp-gke":
        adc = home / ".config" / "gcloud" / "application_default_credentials.json"
        if not any(k in env for k in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CREDENTIALS")) and not adc.is_file():
            return [
                PreflightProblem(
                    what=f"{where}: no Google Cloud credentials (no GOOGLE_APPLICATION_CREDENTIALS, no {adc})",
                    hint="run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS",
                )
            ]
    return []


def _local(root: Path, where: str) -> list[PreflightProblem]:
    out: list[PreflightProblem] = []
    if not Path(sys.executable).exists():
        out.append(
            PreflightProblem(
                what=f"{where}: the worker's Python {sys.executable} is gone (replicas and routers run with it)",
                hint="restart the worker from a working installation of modelplane",
            )
        )
    if not _writable(root / ".modelplane" / "local"):
        out.append(
            PreflightProblem(
                what=f"{where}: {root / '.modelplane' / 'local'} is not writable (the local stack's registry)",
                hint="fix the permissions of the project's .modelplane folder",
            )
        )
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
    except OSError as exc:
        out.append(
            PreflightProblem(
                what=f"{where}: cannot bind a port on 127.0.0.1 for routers and replicas ({exc.strerror})",
                hint="bring up the loopback interface (`ip link set lo up`) or free some ports",
            )
        )
    return out


def _program(root: Path, a: ActionSpec, command: list[str]) -> list[PreflightProblem]:
    program = command[0]
    if "/" in program:
        path = Path(program) if Path(program).is_absolute() else root / program
        if path.is_file() and os.access(path, os.X_OK):
            return []
    elif shutil.which(program) is not None:
        return []
    return [
        PreflightProblem(
            what=f"{a.target}: `{shlex.join(command)}` cannot run: `{program}` is not "
            + ("an executable file" if "/" in program else "on the worker's PATH"),
            hint=f"install `{program}` on the worker, or fix spec.command of {a.target}",
        )
    ]


def _prompts(root: Path, a: ActionSpec) -> list[PreflightProblem]:
    """The JSONL file a rollout's synthetic traffic replays (rollout.analysis.synthetic.prompts) reads."""
    from modelplane.runtime.local.synthetic import read_prompts
    from modelplane.runtime.typed import endpoint_spec

    name = endpoint_spec(a.node).rollout.analysis.synthetic.prompts if a.node is not None else None
    if not name:
        return []
    try:
        read_prompts(root / name)
    except (OSError, ValueError) as exc:
        return [
            PreflightProblem(
                what=f"{a.target}: rollout.analysis.synthetic.prompts cannot be replayed: {exc}",
                hint='a JSONL file, relative to the project, one {"prompt": ...} or {"messages": [...]} per line',
            )
        ]
    return []


def _writable(folder: Path) -> bool:
    """Whether the folder exists writable, or could be created (its nearest existing parent is writable)."""
    p = folder
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    return os.access(p, os.W_OK)
