"""The Pulumi provisioner (kubernetes, aws-eks, gcp-gke stacks): Automation API with an inline program.

The program is ``stacks.components.GpuServingStack`` over the plan's rendered
objects for the stack, with each endpoint's revisions and weights from a small serving
record kept beside the Pulumi state (``.modelplane/pulumi/<stack>/serving.json``).
Every step (provision, a canary weight, promote, teardown) changes that record
and runs ``pulumi up``: a sync call in a thread, heartbeating from Pulumi's
events. A retried attempt after a crash first cancels the stale lock the dead
process left and refreshes, then runs ``up`` again. Analysis reads Prometheus
(``settings.prometheus_url``) with the router-side queries of serving.md §9.

The program is built from the plan's stack inputs (``planfile.StackInputs``),
never by compiling the specs, so the worker needs no checkout. The Pulumi CLI
and provider plugins are not Python packages; the apply's preflight
(``runtime.preflight``) checks for them before any action runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelplane.compiler.plan.model import StackInputs
from modelplane.compiler.report.words import plural_of
from modelplane.errors import ActionFailed
from modelplane.files import atomic_write
from modelplane.runtime.executors import Context, Effect
from modelplane.runtime.executors.serving import wait_out
from modelplane.runtime.provisioners import Provisioner
from modelplane.runtime.temporal.messages import ActionSpec
from modelplane.runtime.typed import spec_of
from modelplane.specs.platform import StackSpec

if TYPE_CHECKING:
    from modelplane.stacks.render import Rendered

INSTALL_HINT = (
    "install the Pulumi CLI (https://www.pulumi.com/docs/install/: `curl -fsSL https://get.pulumi.com | sh` or "
    "`brew install pulumi`) and make sure `pulumi` is on the worker's PATH, or set MODELPLANE_PULUMI_ROOT to the "
    "folder holding bin/pulumi; the provider plugins are fetched by the CLI on first use"
)


def provisioner() -> Provisioner:  # typed as the protocol: mypy checks the class provides it all
    return PulumiProvisioner()


def pulumi_command() -> Any:
    """The Automation API's handle on the Pulumi CLI; a clear ``ActionFailed`` where there is none."""
    from pulumi import automation as auto

    root = os.environ.get("MODELPLANE_PULUMI_ROOT")
    try:
        if root:
            return auto.PulumiCommand(root=root)
        if shutil.which("pulumi") is None:
            raise FileNotFoundError("pulumi")
        return auto.PulumiCommand()
    except (FileNotFoundError, subprocess.CalledProcessError, auto.InvalidVersionError) as exc:
        raise ActionFailed(
            f"the Pulumi CLI is needed to provision this stack, and it is not available ({exc})",
            hint=INSTALL_HINT,
        ) from None


def find_pulumi_cli() -> str | None:
    """None where the CLI is there; otherwise why not (for the preflight)."""
    try:
        pulumi_command()
    except ActionFailed as exc:
        return str(exc).rpartition("(")[2].rstrip(")") or str(exc)
    except ImportError as exc:  # the pulumi package itself is missing: the preflight names it separately
        return f"the pulumi package is not importable: {exc}"
    return None


def _stack_doc(action: ActionSpec) -> dict[str, Any]:
    from modelplane.runtime.provisioners import stack_of

    return stack_of(action)


def _stack_spec(action: ActionSpec) -> StackSpec:
    """The stack's typed spec (defaults filled in), from the plan's document."""
    spec = spec_of(_stack_doc(action))
    assert isinstance(spec, StackSpec)
    return spec


def _inputs(action: ActionSpec) -> StackInputs:
    """The stack's inputs the plan computed (``StackInputs``): what ``pulumi up`` deploys."""
    if action.stack is None:
        raise ActionFailed(
            f"{action.id}: the apply input carries no inputs of stack `{action.details.stack}`",
            hint="apply a plan made by this version of modelplane: `modelplane plan --out FILE`",
        )
    return StackInputs.model_validate(action.stack)


class PulumiProvisioner:
    """Each operation: update the serving record, then ``pulumi up`` the stack's program."""

    # -- plan actions -----------------------------------------------------------------------

    async def provision(self, ctx: Context, action: ActionSpec) -> Effect:
        cmd = pulumi_command()  # before any work
        outputs = await self._up(ctx, action, cmd)
        return Effect(output={"stack": _stack_doc(action)["metadata"]["name"], **outputs})

    async def decommission(self, ctx: Context, action: ActionSpec) -> Effect:
        cmd = pulumi_command()
        if action.target.startswith("endpoint/"):
            name = action.target_id.node.name
            self._edit(ctx, action, lambda rec: rec.pop(name, None))
            return Effect(output=await self._up(ctx, action, cmd))
        await asyncio.to_thread(self._workspace(ctx, action, cmd).destroy, on_event=_events())
        return Effect(output={"destroyed": action.target})

    # -- EndpointRollout steps -----------------------------------------------------------------

    async def inspect(self, ctx: Context, action: ActionSpec) -> dict[str, Any]:
        pulumi_command()
        rec = self._record(ctx, action).get(_endpoint(action), {})
        stable = next((r for r, v in rec.items() if v.get("role") == "stable"), None)
        return {"stable": stable, "revisions": {r: v.get("role") for r, v in rec.items()}}

    async def ensure_router(self, ctx: Context, action: ActionSpec) -> dict[str, Any]:
        # the Envoy Service is part of the program; clients in the cluster reach it by its DNS name
        ns = _stack_spec(action).namespace
        return {"url": f"http://{_endpoint(action)}.{ns}.svc.cluster.local", "pid": 0}

    async def start(self, ctx: Context, action: ActionSpec, revision: str, replicas: int) -> dict[str, Any]:
        if ctx.trained or action.details.artifact:
            # a retrain's weights are a folder on the worker (compiler.plan.artifacts): pods cannot load them
            where = (ctx.trained or action.details.artifact or {}).get("path")
            raise ActionFailed(
                f"{action.target}: the artifact a retrain made ({where}) is a folder on the worker, which the "
                "cluster's replicas cannot load; stable keeps serving",
                hint="publish the trained weights from the workflow (e.g. to s3://) and declare them in the "
                "model's `artifact` with a new `version`: the rollout then serves that URI",
            )
        cmd = pulumi_command()
        self._edit(ctx, action, lambda rec: rec.setdefault(_endpoint(action), {}).setdefault(
            revision, {"role": "canary", "weight": 0}))  # fmt: skip
        return {"revision": revision, "outputs": await self._up(ctx, action, cmd)}

    async def wait_ready(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]:
        # `pulumi up` waits for the Deployment's rollout (the startup and readiness probes) before it returns
        return {"revision": revision, "ready": True}

    async def set_weights(self, ctx: Context, action: ActionSpec, weights: dict[str, int]) -> dict[str, Any]:
        cmd = pulumi_command()

        def apply(rec: dict[str, Any]) -> None:
            for rev, w in weights.items():
                rec.setdefault(_endpoint(action), {}).setdefault(rev, {"role": "canary"})["weight"] = w

        self._edit(ctx, action, apply)
        await self._up(ctx, action, cmd)
        return {"weights": weights}

    async def stats(self, ctx: Context, action: ActionSpec, window_s: float) -> dict[str, Any]:
        url = _stack_spec(action).settings.get("prometheus_url")
        if not url:
            raise ActionFailed(
                f"stack/{_stack_doc(action)['metadata']['name']} has no settings.prometheus_url for canary analysis"
            )
        return await prometheus_stats(str(url), _endpoint(action), self._record(ctx, action).get(_endpoint(action), {}),
                                      window_s)  # fmt: skip

    async def observe(
        self, ctx: Context, action: ActionSpec, window_s: float, need: int, synthesize: bool, revisions: list[str]
    ) -> dict[str, Any]:
        """Wait the window out, then read it from Prometheus: a cluster's traffic is its clients'."""
        if synthesize:
            raise ActionFailed(
                f"{action.target}: this stack's provisioner cannot generate synthetic traffic "
                "(rollout.analysis.when_idle: synthesize); use hold, fail or pass"
            )
        await wait_out(ctx, window_s)
        return await self.stats(ctx, action, window_s)

    async def promote(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]:
        cmd = pulumi_command()

        def apply(rec: dict[str, Any]) -> None:
            revs = rec.setdefault(_endpoint(action), {})
            for r in [r for r in revs if r != revision]:
                del revs[r]
            revs[revision] = {"role": "stable", "weight": 100}

        self._edit(ctx, action, apply)
        await self._up(ctx, action, cmd)
        return {"stable": revision}

    async def teardown(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]:
        cmd = pulumi_command()
        self._edit(ctx, action, lambda rec: rec.get(_endpoint(action), {}).pop(revision, None))
        await self._up(ctx, action, cmd)
        return {"removed": revision}

    # -- Pulumi --------------------------------------------------------------------------------

    def _dir(self, ctx: Context, action: ActionSpec) -> Path:
        return ctx.root / ".modelplane" / "pulumi" / str(_stack_doc(action)["metadata"]["name"])

    def _record(self, ctx: Context, action: ActionSpec) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self._dir(ctx, action) / "serving.json").read_text())
            return data
        except (OSError, ValueError):
            return {}

    def _edit(self, ctx: Context, action: ActionSpec, change: Any) -> None:
        rec = self._record(ctx, action)
        change(rec)
        atomic_write(self._dir(ctx, action) / "serving.json", json.dumps(rec, indent=2).encode())

    def _workspace(self, ctx: Context, action: ActionSpec, cmd: Any) -> Any:
        from pulumi import automation as auto

        stack = _stack_doc(action)
        spec = _stack_spec(action)
        state = self._dir(ctx, action)
        backend = spec.pulumi.backend_url or f"file://{state / 'backend'}"
        (state / "backend").mkdir(parents=True, exist_ok=True)
        env = {
            "PULUMI_CONFIG_PASSPHRASE": os.environ.get("PULUMI_CONFIG_PASSPHRASE", ""),
            "PULUMI_BACKEND_URL": backend,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
        }
        program = _program(_inputs(action), self._record(ctx, action))
        opts = auto.LocalWorkspaceOptions(
            work_dir=str(state),
            pulumi_command=cmd,
            project_settings=auto.ProjectSettings(
                name="modelplane", runtime="python", backend=auto.ProjectBackend(url=backend)
            ),
            secrets_provider="passphrase",
            env_vars=env,
        )
        name = spec.pulumi.stack or f"{stack['metadata']['name']}-{ctx.environment}"
        return auto.create_or_select_stack(stack_name=name, project_name="modelplane", program=program, opts=opts)

    async def _up(self, ctx: Context, action: ActionSpec, cmd: Any) -> dict[str, Any]:
        ws = self._workspace(ctx, action, cmd)
        if ctx.attempt > 1:
            # a crashed attempt left the stack locked and maybe half-created resources
            await asyncio.to_thread(ws.cancel)
            await asyncio.to_thread(ws.refresh, clear_pending_creates=True)
        result = await asyncio.to_thread(ws.up, on_event=_events(ctx))
        return {k: v.value for k, v in result.outputs.items()}


def _endpoint(action: ActionSpec) -> str:
    return action.target_id.node.name


def _events(ctx: Context | None = None) -> Any:
    last = [0.0]

    def on_event(event: Any) -> None:
        now = time.monotonic()
        if ctx is not None and now - last[0] > 1:  # heartbeat from Pulumi's progress
            last[0] = now
            ctx.heartbeat({"pulumi": type(event).__name__})

    return on_event


def rendered(inputs: StackInputs, record: dict[str, Any]) -> Rendered:
    """The stack's objects from the plan's inputs, each endpoint's revisions and weights from the serving record.

    Revision objects come from the plan as rendered; only the routers are
    rendered here, from the plan's endpoint documents, at the record's weights
    (what a canary step changes). Nothing is compiled: the working tree is not read.
    """
    from modelplane.specs.platform import GpuPool
    from modelplane.specs.serving import Endpoint
    from modelplane.stacks.render import Rendered, router_objects
    from modelplane.stacks.settings import StackSettings

    pools = [GpuPool.model_validate(p) for p in inputs.pools]
    out = Rendered(inputs.name, inputs.provider, inputs.namespace, pools, inputs.region,
                   StackSettings.model_validate(inputs.settings))  # fmt: skip
    out.objects += inputs.objects
    for name, ep in inputs.endpoints.items():
        revs = record.get(name) or {ep.revision: {"role": "stable", "weight": 100}}
        unknown = sorted(r for r in revs if r not in ep.objects)
        if unknown:
            raise ActionFailed(
                f"endpoint/{name}: the serving record lists {plural_of('revision', len(unknown))} {', '.join(unknown)} that this plan "
                f"does not deploy (plan revisions: {', '.join(ep.objects)})",
                hint="the stack changed outside this apply: plan again with `modelplane plan --out FILE`",
            )
        weights = {r: int(v.get("weight", 0)) for r, v in revs.items()}
        for r in revs:
            out.objects += ep.objects[r]
        endpoint = Endpoint.model_validate(ep.endpoint)
        out.objects += router_objects(endpoint.metadata.name, endpoint.spec, inputs.namespace, weights, out.settings)
        out.endpoints[name] = {"revision": ep.revision, "weights": weights}
    return out


def build_stack(inputs: StackInputs, record: dict[str, Any]) -> Any:
    """The stack's component, from the plan's inputs and the serving record."""
    from modelplane.stacks.components import GpuServingStack

    return GpuServingStack(inputs.name, rendered(inputs, record))


def _program(inputs: StackInputs, record: dict[str, Any]) -> Any:
    def program() -> None:
        build_stack(inputs, record)

    return program


async def prometheus_stats(url: str, endpoint: str, revisions: dict[str, Any], window_s: float) -> dict[str, Any]:
    """Per revision over the window, from Envoy's cluster metrics at the router (what clients see)."""
    import aiohttp

    window = f"{max(1, int(window_s))}s"
    out: dict[str, Any] = {}
    async with aiohttp.ClientSession() as s:

        async def q(expr: str) -> float | None:
            async with s.get(url.rstrip("/") + "/api/v1/query", params={"query": expr}) as r:
                data = await r.json()
            res = data.get("data", {}).get("result", [])
            return float(res[0]["value"][1]) if res else None

        for rev in revisions:
            cluster = f"{endpoint}-{rev}"
            sel = f'envoy_cluster_name="{cluster}"'
            total = await q(f"sum(increase(envoy_cluster_upstream_rq_total{{{sel}}}[{window}]))") or 0.0
            errors = await q(f'sum(increase(envoy_cluster_upstream_rq_xx{{{sel},envoy_response_code_class="5"}}'
                             f"[{window}]))") or 0.0  # fmt: skip
            quantiles = {}
            for name, level in (("p50_ms", 0.5), ("p99_ms", 0.99)):  # small windows compare medians (analysis)
                value = await q(f"histogram_quantile({level}, sum by (le) "
                                f"(rate(envoy_cluster_upstream_rq_time_bucket{{{sel}}}[{window}])))")  # fmt: skip
                quantiles[name] = None if value is None else round(value * 1000, 2)
            out[rev] = {"requests": int(total), "errors": int(errors), "error_rate": errors / total if total else 0.0,
                        **quantiles}  # fmt: skip
    return out
