"""The local provisioner: endpoint revisions as replica processes on loopback, one router per endpoint.

Every operation is idempotent and keyed on the registry: starting a revision
adopts the replicas the registry lists that are still alive (by pid and port)
and starts only the missing ones, so a retried or resumed step never doubles
them. Replicas run in their own sessions, outliving the worker and the apply.
The engine is `vllm serve` (rendered by ``compiler.engine``) where vLLM and an
NVIDIA GPU are present, and the simulator everywhere else.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from modelplane.errors import ActionFailed
from modelplane.runtime.executors import Context, Effect
from modelplane.runtime.executors.serving import wait_out
from modelplane.runtime.local import drift
from modelplane.runtime.local import registry as regs
from modelplane.runtime.local.registry import Autoscaling, Registry, Replica, Revision, RouterProc
from modelplane.runtime.local.synthetic import Shape, read_prompts
from modelplane.runtime.local.synthetic import synthesize as synthesize_traffic
from modelplane.runtime.procs import (
    Identity,
    free_port,
    is_ours,
    port_open,
    spawn_detached,
    stamp,
    terminate,
    without_secrets,
)
from modelplane.runtime.provisioners import Provisioner
from modelplane.runtime.state.ports import EffectWrites
from modelplane.runtime.temporal.messages import ActionSpec
from modelplane.runtime.typed import endpoint_spec, spec_of
from modelplane.specs.common import duration_seconds
from modelplane.specs.serving import SIMULATOR_MAX_NUM_SEQS, EndpointSpec
from modelplane.stacks.engine import served_name, vllm_args

READY_POLL_S = 0.2
RESTORE_S = 60.0
"""How long a weight change waits for a revision with no live replica to get one back (the autoscaler replaces
dead replicas within seconds) before it fails rather than send traffic to nothing."""
LEASE_MARGIN_S = 15.0
"""Added to a canary's lease for the workflow's own scheduling between steps (see ``canary_lease_s``)."""


def provisioner() -> Provisioner:  # typed as the protocol: mypy checks the class provides it all
    return LocalProvisioner()


def has_vllm_and_gpu() -> bool:
    return shutil.which("vllm") is not None and shutil.which("nvidia-smi") is not None


def engine_command(
    endpoint: dict[str, Any],
    model: dict[str, Any],
    revision: str,
    port: int,
    planned: list[str] | None = None,
    artifact: Mapping[str, Any] | None = None,
) -> tuple[list[str], str]:
    """`vllm serve` with the plan's rendered arguments (``planned``) at this replica's port, or the simulator.
    ``artifact``: weights a retrain made (its folder is what vLLM loads; the simulator names it)."""
    if has_vllm_and_gpu():
        args = list(planned) if planned is not None else vllm_args(endpoint, model, port)
        if "--port" in args:  # the plan renders the Kubernetes port; a local replica gets a free one
            args[args.index("--port") + 1] = str(port)
        if artifact:  # the trained folder in place of the declared artifact (and its hub revision)
            args[0] = str(artifact["path"])
            if "--revision" in args:
                at = args.index("--revision")
                del args[at : at + 2]
        return ["vllm", "serve", *args], "vllm"
    engine = endpoint_spec(endpoint).engine  # typed: defaults filled in, as validate read them
    sim = engine.simulator
    faults = sim.model_dump(exclude={"ttft_ms", "tpot_ms"}, exclude_none=True)
    context_length = getattr(spec_of(model), "context_length", None) or 2048
    cmd = [
        sys.executable, "-m", "modelplane.runtime.local.simulator",
        "--port", str(port),
        "--served-model-name", served_name(endpoint, model),
        "--revision", revision,
        "--max-num-seqs", str(engine.args.max_num_seqs or SIMULATOR_MAX_NUM_SEQS),
        "--max-model-len", str(engine.args.max_model_len or context_length),
        "--ttft-ms", str(sim.ttft_ms),
        "--tpot-ms", str(sim.tpot_ms),
        "--faults", json.dumps(faults),
    ]  # fmt: skip
    if artifact:
        cmd += ["--model", str(artifact["path"]), "--artifact", str(artifact["digest"])]
    if engine.histogram_buckets:
        cmd += ["--histogram-buckets", json.dumps(engine.histogram_buckets)]
    return cmd, "simulator"


def _spawn(cmd: list[str], log: Path, cwd: Path, keep: Sequence[str] = ()) -> Identity:
    """Start it; its identity (pid, start time, command line) goes in the registry, checked before any signal.
    Its environment has no ``MODELPLANE_SECRET_*`` values but those named in ``keep``."""
    return stamp(spawn_detached(cmd, log, cwd, env=without_secrets(keep)).pid)


def secret_env_vars(declared: Mapping[str, Any]) -> list[str]:
    """The ``MODELPLANE_SECRET_*`` variables the endpoint's declared secrets are read from (the autoscaler's
    share: it starts replicas, so it needs those and no others)."""
    from modelplane.compiler.load.secrets import source

    out = []
    for name in declared:
        src = source(name, declared, "process")
        if src.kind == "env":
            out.append(src.env)
    return sorted(out)


def spawn_replica(cmd: list[str], secrets: dict[str, dict[str, Any]], log: Path, cwd: Path, what: str) -> Identity:
    """Start one replica with its secrets resolved for it alone (``runtime.secrets``): the values go in its
    environment as ``MP_SECRET_<NAME>`` (and its argv where the engine arguments hold a reference); the
    registry records the reference form."""
    from modelplane.runtime import secrets as secret_values

    try:
        return secret_values.spawn(cmd, secrets, log, cwd, also=sorted(secrets))
    except secret_values.SecretMissing as exc:
        raise ActionFailed(f"{what}: {exc}", hint=exc.source.hint()) from None


def _endpoint_name(action: ActionSpec) -> str:
    return action.target_id.node.name


class LocalProvisioner:
    async def provision(self, ctx: Context, action: ActionSpec) -> Effect:
        if action.target.startswith("stack/"):
            regs.local_dir(ctx.root, ctx.environment).mkdir(parents=True, exist_ok=True)
            return Effect(output={"stack": action.target, "provider": "local"})
        router = await asyncio.to_thread(self._router, ctx, action)
        url = f"http://127.0.0.1:{router.port}"
        return Effect(
            output={"url": url},
            writes=EffectWrites(outputs={action.target: {"url": url, "router_pid": router.pid}}),
        )

    async def decommission(self, ctx: Context, action: ActionSpec) -> Effect:
        if action.target.startswith("stack/"):
            return Effect(output={"stack": action.target})
        name = _endpoint_name(action)
        stopped = down_endpoint(ctx.root, ctx.environment, name)
        return Effect(output={"stopped": stopped})

    # -- the steps of an EndpointRollout -------------------------------------------------------

    async def inspect(self, ctx: Context, action: ActionSpec) -> dict[str, Any]:
        reg = regs.read(regs.registry_path(ctx.root, ctx.environment, _endpoint_name(action)))
        if reg is None:
            return {"stable": None, "revisions": {}}
        return {"stable": reg.stable(), "revisions": {r: rev.role for r, rev in reg.revisions.items()}}

    async def ensure_router(self, ctx: Context, action: ActionSpec) -> dict[str, Any]:
        router = await asyncio.to_thread(self._router, ctx, action)
        return {"url": router.url, "pid": router.pid}

    def _router(self, ctx: Context, action: ActionSpec) -> RouterProc:
        """The endpoint's router process and autoscaler, started if not running (blocks: spawns, waits for the port)."""
        name = _endpoint_name(action)
        spec = endpoint_spec(action.node)  # typed: an unset policy is the model's default
        routing = spec.routing
        with regs.editing(ctx.root, ctx.environment, name) as reg:
            reg.policy = routing.policy
            reg.max_retries = routing.retries.max_retries
            reg.retry_on = list(routing.retries.retry_on)
            reg.slow_start_s = duration_seconds(routing.slow_start) if routing.slow_start else 0.0
            reg.autoscaling = autoscaling_policy(spec)
            # capacity is an in-place field (specs.endpoint_fields): it changes the revision this plan deploys
            # when that one already runs (an in-place update), never a stable revision a canary is judged against
            deployed = reg.revisions.get(str(action.details.revision))
            if deployed is not None:
                deployed.max_inflight = spec.capacity.concurrency_cap()
            if drift.lease_expired(reg):  # a canary no rollout holds any more (the plan said so): declared weights
                drift.declared_weights(reg)
            path = regs.registry_path(ctx.root, ctx.environment, name)
            _ensure_autoscaler(reg, path, ctx.root, secret_env_vars(action.details.secrets or {}))
            if reg.router is not None and is_ours(reg.router) and port_open(f"127.0.0.1:{reg.router.port}"):
                return reg.router
            port = free_port(reg.router.port if reg.router else None)
            p = _spawn(
                [sys.executable, "-m", "modelplane.runtime.local.router", "--registry", str(path), "--port", str(port)],
                path.parent / "logs" / f"{name}-router.log",
                ctx.root,
            )
            # a fresh admin token per router: it reads it from the registry (0600), as set_weights does
            reg.router = RouterProc(pid=p.pid, port=port, started=p.started, cmdline=p.cmdline, token=regs.new_token())
            router = reg.router
        _wait_port(port, 30, f"the router of endpoint/{name}")
        return router

    async def start(self, ctx: Context, action: ActionSpec, revision: str, replicas: int) -> dict[str, Any]:
        return await asyncio.to_thread(self._start, ctx, action, revision, replicas)

    def _start(self, ctx: Context, action: ActionSpec, revision: str, replicas: int) -> dict[str, Any]:
        """Spawn the revision's missing replicas, adopting live ones (blocks: the registry lock, processes)."""
        name = _endpoint_name(action)
        endpoint = action.node or {}
        model = action.context[f"model/{endpoint['spec']['model']}"]
        started, adopted = 0, 0
        with regs.editing(ctx.root, ctx.environment, name) as reg:
            _clean_orphans(reg, keep=revision)
            rev = reg.revisions.setdefault(revision, Revision(role="canary", weight=0))
            rev.model = f"{model['metadata']['name']}@{getattr(spec_of(model), 'version', '') or ''}"
            # the weights a retrain made: trained in this apply (ctx.trained), else registered earlier (the plan's)
            artifact = ctx.trained or action.details.artifact
            rev.artifact = str(artifact["digest"]) if artifact else None
            rev.max_inflight = endpoint_spec(endpoint).capacity.concurrency_cap()
            rev.min_replicas = max(rev.min_replicas, replicas)  # the capacity gate's count: no scaling below it
            alive = [r for r in rev.replicas if is_ours(r)]  # listening or still starting
            adopted = len(alive)
            for dead in rev.replicas:
                if dead not in alive:
                    terminate(dead, 0, f"replica {dead.port} of {name}/{revision}")  # reaps it; never a stranger
            rev.replicas = alive
            logs = regs.local_dir(ctx.root, ctx.environment) / "logs"
            rev.secrets = dict(action.details.secrets or {})
            while len([r for r in rev.replicas if not r.draining]) < replicas:  # draining ones are leaving
                port = free_port()
                cmd, rev.engine = engine_command(endpoint, model, revision, port, action.details.engine_args, artifact)
                rev.command = _port_template(cmd, port)
                log = logs / f"{name}-{revision}-{len(rev.replicas)}.log"
                p = spawn_replica(cmd, rev.secrets, log, ctx.root, action.target)
                rev.replicas.append(Replica(pid=p.pid, port=port, log=str(log), started=p.started, cmdline=p.cmdline))
                started += 1
        return {"revision": revision, "started": started, "adopted": adopted, "replicas": replicas}

    async def wait_ready(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]:
        """Until every replica's model endpoint answers (``/v1/models``, not just ``/health``)."""
        name = _endpoint_name(action)
        health = endpoint_spec(action.node).health
        limit = min(600.0, health.startup_failure_threshold * duration_seconds(health.period))
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession() as session:
            while True:
                reg = regs.read(regs.registry_path(ctx.root, ctx.environment, name))
                rev = reg.revisions.get(revision) if reg else None
                if rev is None:
                    raise ActionFailed(f"endpoint/{name}: revision {revision} is not in the registry")
                ready = 0
                serving = [r for r in rev.replicas if not r.draining]  # the autoscaler may be removing some
                for r in serving:
                    try:
                        async with session.get(r.url + "/v1/models", timeout=aiohttp.ClientTimeout(total=1)) as resp:
                            ready += resp.status == 200
                    except (aiohttp.ClientError, TimeoutError):
                        if not is_ours(r):
                            raise ActionFailed(
                                f"endpoint/{name}: replica {r.pid} of revision {revision} exited while starting",
                                {"log": r.log},
                                hint=f"see {r.log}",
                            ) from None
                if ready == len(serving):
                    return {"revision": revision, "ready": ready}
                if time.monotonic() > deadline:
                    raise ActionFailed(f"endpoint/{name}: revision {revision} not ready after {limit:.0f} s")
                ctx.heartbeat({"ready": ready, "of": len(serving)})
                await asyncio.sleep(READY_POLL_S)

    async def set_weights(self, ctx: Context, action: ActionSpec, weights: dict[str, int]) -> dict[str, Any]:
        name = _endpoint_name(action)
        # traffic never goes onto a revision with no live replica (a stable whose processes died mid-rollout):
        # the autoscaler replaces dead replicas; wait for it, or fail and say so
        for rev_name, w in weights.items():
            if w > 0:
                await self._live_or_fail(ctx, name, rev_name)
        lease = canary_lease_s(endpoint_spec(action.node))
        with regs.editing(ctx.root, ctx.environment, name) as reg:
            for rev, w in weights.items():
                if rev in reg.revisions:
                    reg.revisions[rev].weight = w
            canary_live = any(r.role != "stable" and r.weight > 0 for r in reg.revisions.values())
            reg.canary_lease_until = time.time() + lease if canary_live and lease is not None else None
            router, auth = reg.router, regs.admin_headers(reg)
        if router is not None:  # the registry is the record; telling the router makes it take effect now
            async with (
                aiohttp.ClientSession(headers=auth) as s,
                s.post(router.url + "/admin/weights", json=weights) as r,
            ):
                r.raise_for_status()
        return {"weights": weights}

    async def _live_or_fail(self, ctx: Context, name: str, revision: str) -> None:
        """Until ``revision`` has a live, ready replica (``RESTORE_S`` at most), else ActionFailed."""
        deadline = time.monotonic() + RESTORE_S
        while True:
            reg = regs.read(regs.registry_path(ctx.root, ctx.environment, name))
            rev = reg.revisions.get(revision) if reg else None
            if rev is None or any(r.ready and not r.draining and is_ours(r) for r in rev.replicas):
                return  # one not in the registry is the caller's to judge (a weight of a revision torn down)
            if time.monotonic() > deadline:
                raise ActionFailed(
                    f"endpoint/{name}: revision {revision} ({rev.role}) has no live replica, and none came back "
                    f"within {RESTORE_S:g} s: not moving traffic onto it",
                    hint=f"see the replica logs under .modelplane/local/{ctx.environment}/logs/ and the autoscaler's "
                    f"log ({name}-autoscaler.log); `modelplane apply` again once the cause is fixed",
                )
            ctx.heartbeat({"waiting_for_live_replica": revision})
            await asyncio.sleep(READY_POLL_S)

    async def stats(self, ctx: Context, action: ActionSpec, window_s: float) -> dict[str, Any]:
        name = _endpoint_name(action)
        reg = regs.read(regs.registry_path(ctx.root, ctx.environment, name))
        if reg is None or reg.router is None:
            raise ActionFailed(f"endpoint/{name} has no router")
        async with (
            aiohttp.ClientSession(headers=regs.admin_headers(reg)) as s,
            s.get(reg.router.url + f"/admin/stats?window={window_s}") as r,
        ):
            data: dict[str, Any] = await r.json(content_type=None)
            if r.status != 200:  # e.g. a router whose registry lost its admin token: say so, never gate on it
                raise ActionFailed(f"endpoint/{name}: its router refused /admin/stats ({r.status}): {data}")
            return data

    async def observe(
        self, ctx: Context, action: ActionSpec, window_s: float, need: int, synthesize: bool, revisions: list[str]
    ) -> dict[str, Any]:
        """One analysis window: wait it out (topping it up with synthetic requests where allowed), then its stats."""
        name = _endpoint_name(action)
        reg = regs.read(regs.registry_path(ctx.root, ctx.environment, name))
        if reg is None or reg.router is None:
            raise ActionFailed(f"endpoint/{name} has no router")
        lease = canary_lease_s(endpoint_spec(action.node))
        if reg.canary_lease_until is not None and lease is not None:
            with regs.editing(ctx.root, ctx.environment, name) as held:  # the canary's weight holds through it
                if held.canary_lease_until is not None:
                    held.canary_lease_until = time.time() + window_s + lease
        if not synthesize:
            await wait_out(ctx, window_s)
            return await self.stats(ctx, action, window_s)
        spec = endpoint_spec(action.node)
        synth = spec.rollout.analysis.synthetic
        prompts: tuple[dict[str, Any], ...] = ()
        if synth.prompts:
            try:
                prompts = read_prompts(ctx.root / synth.prompts)
            except (OSError, ValueError) as exc:
                raise ActionFailed(
                    f"endpoint/{name}: rollout.analysis.synthetic.prompts: {exc}",
                    hint='a JSONL file, relative to the project, of {"prompt": ...} or {"messages": ...}',
                ) from None
        model = action.context[f"model/{spec.model}"]
        shape = Shape(
            model=served_name(action.node or {}, model),
            input_tokens=spec.traffic.input_tokens,
            output_tokens=spec.traffic.output_tokens,
            stream_fraction=synth.stream_fraction,
            prompts=prompts,
        )
        router, admin = reg.router, regs.admin_headers(reg)

        async def real(elapsed: float) -> dict[str, int]:
            now = await self._router_stats(router.url, admin, elapsed)
            return {r: int(s.get("real", 0)) for r, s in now.items()}

        sent = await synthesize_traffic(
            router.url, admin, revisions, need, window_s, shape, synth.max_qps, real, lambda d: ctx.heartbeat(d)
        )
        stats = await self.stats(ctx, action, window_s)
        return {**stats, "_synthetic": {"sent": sent.by_revision, "failed": sent.failed}}

    @staticmethod
    async def _router_stats(url: str, admin: dict[str, str], window_s: float) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(headers=admin) as s,
            s.get(url + f"/admin/stats?window={max(window_s, 0.001)}") as r,
        ):
            data: dict[str, Any] = await r.json(content_type=None)
            return data if r.status == 200 else {}

    async def promote(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]:
        """The revision becomes stable with all traffic; the old stable drains and is torn down."""
        name = _endpoint_name(action)
        await self.set_weights(ctx, action, {revision: 100})
        with regs.editing(ctx.root, ctx.environment, name) as reg:
            old = [r for r, rev in reg.revisions.items() if r != revision]
            for r in old:
                reg.revisions[r].role = "draining"
                reg.revisions[r].weight = 0
            reg.revisions[revision].role = "stable"
            reg.revisions[revision].weight = 100
            reg.revisions[revision].min_replicas = 0  # stable: autoscaling's own minimum applies again
            reg.canary_lease_until = None  # no canary any more: nothing for the watchdog to revert
        grace = min(5.0, duration_seconds(endpoint_spec(action.node).health.drain_grace))
        await self._drain(ctx, name, old, grace)
        for r in old:
            await self.teardown(ctx, action, r)
        reg2 = regs.read(regs.registry_path(ctx.root, ctx.environment, name))
        url = reg2.router.url if reg2 and reg2.router else None
        return {"stable": revision, "removed": old, "url": url}

    async def _drain(self, ctx: Context, name: str, revisions: list[str], grace: float) -> None:
        reg = regs.read(regs.registry_path(ctx.root, ctx.environment, name))
        if not revisions or reg is None or reg.router is None:
            return
        deadline = time.monotonic() + grace
        async with aiohttp.ClientSession(headers=regs.admin_headers(reg)) as s:
            while time.monotonic() < deadline:
                async with s.get(reg.router.url + "/admin/state") as r:
                    state = await r.json()
                inflight = sum(b["inflight"] for rev in revisions for b in state["revisions"].get(rev, []))
                if inflight == 0:
                    return
                await asyncio.sleep(0.1)

    async def teardown(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._teardown, ctx, action, revision)

    def _teardown(self, ctx: Context, action: ActionSpec, revision: str) -> dict[str, Any]:
        """Stop the revision's replicas (blocks: waits for each to exit)."""
        name = _endpoint_name(action)
        with regs.editing(ctx.root, ctx.environment, name) as reg:
            rev = reg.revisions.pop(revision, None)
        for r in rev.replicas if rev else []:
            terminate(r, what=f"replica {r.port} of {name}/{revision}")
        return {"removed": revision, "replicas": len(rev.replicas) if rev else 0}


def canary_lease_s(spec: EndpointSpec) -> float | None:
    """How long a canary's weight holds without its rollout renewing it (each window renews it): a step's
    pause and one window, plus a margin for the workflow's scheduling. None where a rollout may wait for a
    person (a manual pause, ``when_idle: hold``, ``on_failure: pause``): no lease then, the weight stays."""
    r = spec.rollout
    if any(step.pause == "manual" for step in r.steps) or r.on_failure == "pause" or r.analysis.when_idle == "hold":
        return None
    longest = max((duration_seconds(step.pause) for step in r.steps if step.pause), default=0.0)
    return longest + duration_seconds(r.analysis.window) + LEASE_MARGIN_S


def autoscaling_policy(spec: EndpointSpec) -> Autoscaling:
    """The spec's autoscaling as the local autoscaler runs it (typed: every default filled in)."""
    a = spec.autoscaling
    return Autoscaling(
        min_replicas=max(1, a.min_replicas),
        max_replicas=a.max_replicas,
        metric=a.metric,
        target=spec.scale_target(),
        up_stabilization_s=duration_seconds(a.scale_up.stabilization),
        up_percent=a.scale_up.max_percent_per_period,
        up_period_s=duration_seconds(a.scale_up.period),
        down_stabilization_s=duration_seconds(a.scale_down.stabilization),
        down_percent=a.scale_down.max_percent_per_period,
        down_period_s=duration_seconds(a.scale_down.period),
        drain_grace_s=min(30.0, duration_seconds(spec.health.drain_grace)),
    )


def _ensure_autoscaler(reg: Registry, path: Path, root: Path, secrets: Sequence[str] = ()) -> None:
    """One autoscaler per endpoint: it scales where min is below max, and for every endpoint replaces dead
    replicas and is the watchdog of a canary's lease (``Registry.canary_lease_until``)."""
    policy = reg.autoscaling
    running = reg.autoscaler is not None and is_ours(reg.autoscaler)
    if policy is None:
        if running and reg.autoscaler is not None:
            terminate(reg.autoscaler, 2.0, f"the autoscaler of endpoint/{reg.endpoint}")
        reg.autoscaler = None
        return
    if running:
        return
    p = _spawn(
        [sys.executable, "-m", "modelplane.runtime.local.autoscaler", "--registry", str(path)],
        path.parent / "logs" / f"{reg.endpoint}-autoscaler.log",
        root,
        keep=secrets,
    )
    reg.autoscaler = Replica(pid=p.pid, port=0, started=p.started, cmdline=p.cmdline)


def _port_template(cmd: list[str], port: int) -> list[str]:
    """The command with ``{port}`` where this replica's port is (the value after ``--port``)."""
    out = list(cmd)
    i = out.index("--port") + 1
    out[i] = "{port}"
    return out


def _clean_orphans(reg: Registry, keep: str) -> None:
    """Canary revisions left by an earlier, interrupted rollout: nothing routes to them any more."""
    for name in [r for r, rev in reg.revisions.items() if rev.role != "stable" and r != keep]:
        for r in reg.revisions[name].replicas:
            terminate(r, 0.5, f"replica {r.port} of orphaned revision {name}")
        del reg.revisions[name]


def _wait_port(port: int, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(f"127.0.0.1:{port}"):
        if time.monotonic() > deadline:
            raise ActionFailed(f"{what} did not start listening on port {port}")
        time.sleep(0.05)


def down_endpoint(root: Path, environment: str, name: str) -> int:
    path = regs.registry_path(root, environment, name)
    reg = regs.read(path)
    if reg is None:
        return 0
    procs: list[tuple[str, Replica | RouterProc]] = [
        (f"replica {r.port} of endpoint/{name} revision {rev}", r)
        for rev, revision in reg.revisions.items()
        for r in revision.replicas
    ]
    if reg.router is not None:
        procs.append((f"the router of endpoint/{name}", reg.router))
    if reg.autoscaler is not None:
        procs.insert(0, (f"the autoscaler of endpoint/{name}", reg.autoscaler))  # first: it starts replicas
    # only processes still ours are signalled (terminate checks start time and command line; a reused pid is not)
    stopped = sum(terminate(p, 2.0, what) for what, p in procs)
    path.unlink(missing_ok=True)
    return stopped
