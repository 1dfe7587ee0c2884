"""run-workflow and evaluate: the spec's command as a child process, heartbeating while it runs.

The command runs in the project root with ``MODELPLANE_*`` variables telling it
where to write (``MODELPLANE_OUTPUT_DIR``; evaluations write metrics JSON to
``MODELPLANE_METRICS_FILE``). Each ``${secret.NAME}`` of the command is
resolved here, as it starts (``runtime.secrets``): the child gets the value in
its argv and as ``MP_SECRET_<NAME>``; the log and every message show the
reference. Its output goes to a log file under the action's
run folder; the last lines are shown when it fails. On Linux the child dies
with the worker (PR_SET_PDEATHSIG), so a crashed worker leaves no half-run
command behind and the retry starts it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from modelplane.errors import ActionFailed
from modelplane.files import private_opener
from modelplane.runtime import secrets
from modelplane.runtime.executors import Context, Effect
from modelplane.runtime.executors.artifacts import trained_artifact
from modelplane.runtime.temporal.messages import ActionSpec
from modelplane.runtime.typed import spec_of
from modelplane.specs.common import duration_seconds
from modelplane.specs.models import EvaluationSpec, Metric

HEARTBEAT_EVERY = 1.0


def _die_with_parent() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1

    def setup() -> None:
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        os.setpgrp()  # its own group, so a timeout or abort can stop everything it started

    return setup


async def run_command(ctx: Context, action: ActionSpec, extra_env: dict[str, str]) -> tuple[int, str]:
    """Run the target's command; returns (exit code, log path). Raises ActionFailed on timeout."""
    spec = spec_of(action.node)  # a Workflow's or an Evaluation's typed spec
    command: list[str] = list(spec.command)
    timeout = duration_seconds(spec.timeout)
    out_dir = ctx.run_dir / "output"
    out_dir.mkdir(parents=True, exist_ok=True)
    log_path = ctx.run_dir / f"attempt-{ctx.attempt}.log"
    try:  # the values only now, only for the child: `command` (the reference form) is what is logged and shown
        argv, secret_env = secrets.for_process(command, action.details.secrets, ctx.root)
    except secrets.SecretMissing as exc:
        raise ActionFailed(f"{action.target}: {exc}", hint=exc.source.hint()) from None
    env = {
        **secrets.child_environ(secret_env),
        "MODELPLANE_ENV": ctx.environment,
        "MODELPLANE_APPLY_ID": ctx.apply_id,
        "MODELPLANE_ACTION": action.id,
        "MODELPLANE_NODE": action.target,
        "MODELPLANE_IDEMPOTENCY_KEY": ctx.key,
        "MODELPLANE_ATTEMPT": str(ctx.attempt),
        "MODELPLANE_OUTPUT_DIR": str(out_dir),
        **extra_env,
    }
    with open(log_path, "wb", opener=private_opener) as log:
        log.write(f"$ {shlex.join(command)}\n".encode())
        log.flush()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=ctx.root,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                preexec_fn=_die_with_parent(),
            )
        except OSError as exc:
            raise ActionFailed(
                f"{action.target}: cannot start `{shlex.join(command)}`: {exc.strerror}",
                hint="check spec.command: the program must exist on the worker's PATH, relative to the project",
            ) from None
        started = time.monotonic()
        try:
            while True:
                try:
                    code = await asyncio.wait_for(proc.wait(), HEARTBEAT_EVERY)
                    break
                except TimeoutError:
                    elapsed = time.monotonic() - started
                    ctx.heartbeat({"pid": proc.pid, "elapsed_s": round(elapsed, 1)})
                    if elapsed > timeout:
                        _kill_group(proc.pid)
                        await proc.wait()
                        raise ActionFailed(
                            f"{action.target}: `{shlex.join(command)}` ran past its timeout of {spec.timeout}",
                            {"log": str(log_path)},
                            hint="raise spec.timeout, or make the command faster",
                        ) from None
        except asyncio.CancelledError:
            _kill_group(proc.pid)  # aborted: stop the command too
            raise
    return code, str(log_path)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read()[-8192:].decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


async def run_workflow(ctx: Context, action: ActionSpec) -> Effect:
    code, log = await run_command(ctx, action, {})
    if code != 0:
        raise ActionFailed(
            f"{action.target}: command exited with {code}\n{tail(log)}",
            {"log": log},
            hint=f"see the full log in {log}",
        )
    out: dict[str, Any] = {"log": log, "exit_code": code}
    # a run that trains a model made an artifact: its digest is what the model registers and its endpoints serve
    spec = spec_of(action.node)
    trains = [*getattr(spec, "outputs", []), *(action.details.trains or [])]
    artifact = await asyncio.to_thread(trained_artifact, trains, ctx.run_dir / "output")
    if artifact is not None:
        out["artifact"] = artifact
    return Effect(output=out)


async def evaluate(ctx: Context, action: ActionSpec) -> Effect:
    spec = spec_of(action.node)
    assert isinstance(spec, EvaluationSpec)
    metrics_file = ctx.run_dir / "metrics.json"
    metrics_file.unlink(missing_ok=True)
    env = {"MODELPLANE_METRICS_FILE": str(metrics_file)}
    if ctx.trained:  # the model was retrained in this apply: the evaluation judges those weights
        env |= {"MODELPLANE_MODEL_ARTIFACT": str(ctx.trained["path"]), "MODELPLANE_MODEL_DIGEST": ctx.trained["digest"]}
    code, log = await run_command(ctx, action, env)
    if code != 0:
        raise ActionFailed(f"{action.target}: evaluation command exited with {code}\n{tail(log)}", {"log": log})
    metrics = read_metrics(action.target, metrics_file)
    failures = check_thresholds(spec.metrics, metrics)
    # typed: `blocking: false` (or `no`, as the model reads it) really does not gate
    output: dict[str, Any] = {"metrics": metrics, "failed": failures, "blocking": spec.blocking, "log": log}
    if ctx.trained:
        output["artifact"] = ctx.trained["digest"]
    if failures and spec.blocking:
        shown = ", ".join(f"{k}={v}" for k, v in metrics.items())
        raise ActionFailed(
            f"{action.target} failed (blocking): {'; '.join(failures)}. metrics: {shown}. "
            f"Rollouts of model/{spec.model} are stopped",
            output,
        )
    return Effect(output=output)


def read_metrics(target: str, path: Any) -> dict[str, float]:
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ActionFailed(
            f"{target}: the command wrote no metrics",
            hint="write a JSON object of metric values to the file named by $MODELPLANE_METRICS_FILE",
        ) from None
    except json.JSONDecodeError as exc:
        raise ActionFailed(f"{target}: the metrics file is not JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ActionFailed(f"{target}: the metrics file must hold a JSON object, got {type(raw).__name__}")
    return {str(k): v for k, v in raw.items()}


def check_thresholds(declared: list[Metric], metrics: dict[str, Any]) -> list[str]:
    failures = []
    for m in declared:
        value = metrics.get(m.name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            failures.append(
                f"{m.name} missing from the metrics" if value is None else f"{m.name}={value!r} not a number"
            )
            continue
        if m.min is not None and value < m.min:
            failures.append(f"{m.name}={value} below min {m.min:g}")
        if m.max is not None and value > m.max:
            failures.append(f"{m.name}={value} above max {m.max:g}")
    return failures
