"""The programmatic API: one project and environment, and the use cases the CLI offers on them.

``Workspace(root, env)`` is what ``modelplane validate/graph/impact/plan/apply/status/history/
down/stack preview`` call (as dbt's ``dbtRunner`` is what ``dbt`` calls): each method returns a value;
printing it is a view's job (``modelplane.cli``), and nothing here reads argv or writes to a
terminal. It holds no logic of its own either: it picks the compiler stage or runtime port a
use case needs and wires them, so a script gets exactly what the command line gets::

    from modelplane.workspace import Workspace

    ws = Workspace.find("examples/quickstart")
    result = ws.plan()
    print(result.plan.summary, [a.id for a in result.plan.actions])

Imports stay inside the methods: a warm ``validate`` answers from its verdict cache
without importing the compiler, and this module must not undo that.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from modelplane.compiler.change.state import AppliedState, StateReader
    from modelplane.compiler.change.whatif import ImpactReport
    from modelplane.compiler.compile import PlanResult
    from modelplane.compiler.compiled import Compiled
    from modelplane.compiler.format.text import Formatted
    from modelplane.compiler.graph.lineage import LineageGraph
    from modelplane.compiler.plan.model import Plan
    from modelplane.compiler.plan.notes import PlanNotes
    from modelplane.compiler.source.files import GitSource
    from modelplane.compiler.source.scan import Scan
    from modelplane.errors import Diagnostic
    from modelplane.runtime.apply import ApplyHooks, ApplyOptions, Launched, Running
    from modelplane.runtime.approve import PlanApproval
    from modelplane.runtime.local.load import LoadResult
    from modelplane.runtime.local.observe import LocalEndpoint
    from modelplane.runtime.settings import Settings
    from modelplane.runtime.state.node_history import NodeHistory
    from modelplane.runtime.state.ports import HistoryEntry, Store
    from modelplane.runtime.state.to_postgres import ToPostgres
    from modelplane.runtime.temporal.client import ApplyHandle
    from modelplane.runtime.temporal.server import ServerInfo
    from modelplane.specs.base import NodeId
    from modelplane.stacks.preview import Row
    from modelplane.stacks.render import Rendered


@dataclass
class Validation:
    """What ``validate`` found in a valid project (an invalid one raises ``SpecError``/``GraphError``)."""

    environment: str
    nodes: int
    files: int
    kinds: dict[str, int]
    warnings: list[Diagnostic] = field(default_factory=list)


@dataclass
class GraphSelection:
    """The graph and the nodes a selector picked in it."""

    graph: LineageGraph
    nodes: set[NodeId] | None
    """What the selector picked; None without a selector (the whole graph)."""
    warnings: list[str] = field(default_factory=list)
    """Why the selection is empty, where that is no error (``state:modified`` with nothing modified)."""


@dataclass
class StackPreview:
    """What ``stack preview`` shows of one stack: its spec, its rendered objects and their rows."""

    name: str
    spec: dict[str, Any]
    rendered: Rendered
    rows: list[Row]
    missing_extras: list[str]
    """Extras (``aws``, ``gcp``) whose Pulumi SDK is not installed: their node pools are not shown."""


@dataclass
class StateSummary:
    """What the environment's state says when no apply runs: ``status`` shows it."""

    environment: str
    applied: AppliedState
    outputs: dict[str, dict[str, Any]]
    last: HistoryEntry | None


@dataclass
class Down:
    """What ``down`` stopped and forgot."""

    stopped: dict[str, int]
    """Endpoint name -> how many of its processes (router, replicas, autoscaler) were stopped."""
    forgotten: list[str]
    """Applied nodes that ran on the local stack: gone from the state, so the next plan provisions them."""
    worker_stopped: bool = False
    server_stopped: bool = False


class Workspace:
    """One project (the folder holding ``modelplane.yaml``) in one environment (None: its default)."""

    def __init__(
        self,
        root: Path | str,
        env: str | None = None,
        *,
        use_cache: bool = True,
        on_unfinished: Callable[[HistoryEntry], None] | None = None,
    ) -> None:
        self.root = Path(root)
        self.env = env
        self.use_cache = use_cache
        self.on_unfinished = on_unfinished
        """Told when a compare with the applied state finds an apply still running (the state so far)."""

    @classmethod
    def of(cls, settings: Settings) -> Workspace:
        """The workspace of settings already read (``modelplane.yaml`` is not read again)."""
        ws = cls(settings.root, settings.environment)
        ws.__dict__["settings"] = settings  # the cached_property's slot
        return ws

    @classmethod
    def find(cls, start: Path | str | None = None, env: str | None = None, *, use_cache: bool = True) -> Workspace:
        """The project at ``start`` or the nearest folder above it with a ``modelplane.yaml``."""
        from modelplane.compiler.source.scan import find_root

        return cls(find_root(Path(start) if start is not None else Path.cwd()), env, use_cache=use_cache)

    # -- compile: nothing here writes outside .modelplane/'s caches -------------------------------

    def scan(self) -> Scan:
        from modelplane.compiler.source.scan import scan

        return scan(self.root, self.env)

    def validate(self) -> Validation:
        """Every check ``plan`` runs (syntax, fields, references, graph rules), answered from the verdict
        cache when no input changed since the last valid run."""
        from modelplane.compiler.incremental.spec_cache import VerdictCache

        sc = self.scan()
        verdicts = VerdictCache(self.root, sc.environment)
        summary = None if not self.use_cache or sc.problems else verdicts.get(sc.fingerprint)
        if summary is None:
            summary = self._check(sc)
            if self.use_cache:
                verdicts.put(sc.fingerprint, summary)
        found = summary.get("warnings", [])
        warnings = []
        if found:  # a warm run without warnings imports nothing more
            from modelplane.errors import Diagnostic

            warnings = [Diagnostic.from_json(d) for d in found]
        return Validation(summary["environment"], summary["nodes"], summary["files"], summary["kinds"], warnings)

    def _check(self, sc: Scan) -> dict[str, Any]:
        """The verdict cache's form of a validation (JSON)."""
        from modelplane.compiler.compile import check_specs

        compiled = check_specs(self.root, self.env, use_cache=self.use_cache, scanned=sc)
        specs = compiled.specs
        kinds: dict[str, int] = {}
        for node in specs.nodes.values():
            kinds[node.kind] = kinds.get(node.kind, 0) + 1
        return {
            "environment": specs.environment,
            "nodes": len(specs.nodes),
            "files": len(specs.files),
            "kinds": kinds,
            "warnings": [d.to_json() for d in compiled.warnings],
        }

    def compile(self) -> Compiled:
        from modelplane.compiler.compile import compile_graph

        return compile_graph(self.root, self.env, use_cache=self.use_cache)

    def graph(
        self, select: str | None = None, base: str | None = None, *, exclude: str | None = None
    ) -> GraphSelection:
        """The lineage graph and what ``select`` picks in it, less what ``exclude`` picks (``state:``
        compares with git ref ``base``, or without one with the applied state)."""
        from modelplane.compiler.change.whatif import modified_nodes, uses_state
        from modelplane.compiler.graph.selectors import selection

        g = self.compile().graph
        modified = None
        if uses_state(select) or uses_state(exclude):
            state = None if base else self.applied_state()
            against = modified_nodes(self.root, self.env, base_ref=base, state=state, use_cache=self.use_cache)
            modified = against[1] if against is not None else None
        if select is None and exclude is None:
            return GraphSelection(g, None)
        picked = selection(g, select, modified, exclude)
        return GraphSelection(g, picked.nodes, picked.warnings)

    def impact(self, selector: str, base: str | None = None, *, exclude: str | None = None) -> ImpactReport:
        """What the selected nodes' change affects downstream (with ``base``: how they did change);
        ``warnings`` says why nothing was selected where that is no error."""
        from modelplane.compiler.change.whatif import impact_of, uses_state

        state = self.applied_state() if base is None and (uses_state(selector) or uses_state(exclude)) else None
        return impact_of(
            self.root, selector, env=self.env, base_ref=base, state=state, use_cache=self.use_cache, exclude=exclude
        )

    def plan(
        self,
        base: str | None = None,
        *,
        allow_breaking: bool = False,
        select: str | None = None,
        exclude: str | None = None,
        head_scan: Scan | None = None,
        base_source: GitSource | None = None,
    ) -> PlanResult:
        """The plan against git ref ``base``, or without one against the applied state (none before the
        first apply: planning never creates a state store)."""
        from modelplane.compiler.compile import make_plan

        return make_plan(
            self.root,
            self.env,
            base_ref=base,
            state=None if base else self._live_state(),
            allow_breaking=allow_breaking,
            use_cache=self.use_cache,
            head_scan=head_scan,
            base_source=base_source,
            target=select,
            exclude=exclude,
        )

    def save_plan(self, result: PlanResult, out: Path) -> Plan:
        """Write the executable plan (everything apply runs: it compiles nothing) to ``out``, atomically.

        A plan against the applied state is sealed with the state store's key (the store is created here if
        it is not yet: its key must exist for the seal), so ``apply`` runs it only as saved."""
        from modelplane.compiler.plan.execution import executable
        from modelplane.runtime.apply import seal_plan

        saved = executable(result.plan, result.head.graph, result.base)
        if saved.base.kind == "state":
            saved = seal_plan(self.settings, saved, self.store())
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(saved.model_dump_json(indent=2) + "\n")
        os.replace(tmp, out)
        return saved

    def plan_notes(self, result: PlanResult) -> PlanNotes:
        """The plan's id (as ``save_plan`` would save it) and the owners whose approval the environment's
        policy requires of it."""
        from modelplane.compiler.plan.notes import plan_notes

        return plan_notes(result)

    def git_source(self, base: str) -> GitSource:
        """The specs at git ref ``base`` (close it when done), for ``plan(base_source=...)``."""
        from modelplane.compiler.source.files import GitSource

        return GitSource.for_project(self.root, base)

    @staticmethod
    def schema(target: str, kind: str | None = None) -> dict[str, Any]:
        """The JSON Schema of spec documents (``spec``, or one ``kind``), of ``modelplane.yaml`` (``project``) or
        of a saved plan (``plan``)."""
        from modelplane.errors import ModelplaneError, did_you_mean
        from modelplane.specs.kinds import KINDS
        from modelplane.specs.schema import kind_schema, project_schema, spec_schema

        if kind is not None and kind not in KINDS:
            raise ModelplaneError(f"unknown kind `{kind}`", hint=did_you_mean(kind, KINDS, "known kinds"))
        if target == "plan":
            from modelplane.compiler.plan.model import plan_schema

            return plan_schema()
        return project_schema() if target == "project" else kind_schema(kind) if kind else spec_schema()

    @staticmethod
    def init(directory: Path, name: str | None = None) -> list[Path]:
        """Create a small, valid project in ``directory`` (empty or absent); the files written."""
        from modelplane.templates.scaffold import scaffold

        return scaffold(directory, name)

    @staticmethod
    def find_root(start: Path) -> Path:
        """The folder at or above ``start`` holding ``modelplane.yaml`` (an error saying so where there is none)."""
        from modelplane.compiler.source.scan import find_root

        return find_root(start)

    def spec_files(self) -> list[Path]:
        """Every spec file of the project (the environment's scan), as paths."""
        return [self.root / f for f in sorted(self.scan().hashes)]

    @staticmethod
    def format_spec(shown: str, text: str) -> Formatted:
        """One spec file's text in canonical form (``modelplane fmt``); ``shown`` names it in diagnostics."""
        from modelplane.compiler.format.text import format_text

        return format_text(shown, text)

    @staticmethod
    def timings_report() -> str | None:
        """Where the process's time went, by stage, when ``MODELPLANE_TIMINGS`` is set (else None)."""
        from modelplane.compiler import timings

        return timings.report() if timings.ENABLED and timings.totals() else None

    @staticmethod
    def has_project_above(start: Path) -> bool:
        from modelplane.specs.project import PROJECT_FILE

        here = start.resolve()
        return any((d / PROJECT_FILE).is_file() for d in (here, *here.parents))

    def stack_preview(self, stack: str) -> StackPreview:
        """Every resource a stack's Pulumi program would create, offline (no Pulumi CLI, no cloud)."""
        from modelplane.errors import ModelplaneError, did_you_mean
        from modelplane.specs.base import NodeId
        from modelplane.specs.providers import registry as providers
        from modelplane.stacks.preview import preview
        from modelplane.stacks.render import render_stack

        graph = self.compile().graph
        name = stack.removeprefix("stack/")
        node = graph.nodes.get(NodeId("stack", name))
        env = self.settings.environment
        if node is None:
            names = [n.name for n in graph.iter_kind("Stack")]
            raise ModelplaneError(f"no stack named `{name}` in {env}", hint=did_you_mean(name, names, "stacks"))
        if providers.is_local(node.spec["provider"]):
            raise ModelplaneError(
                f"stack/{name} is a local stack: it has no Pulumi program",
                hint="`modelplane status` shows what runs on it",
            )
        rendered = render_stack(graph, name)
        rows, missing = preview(rendered)
        return StackPreview(name, node.spec, rendered, rows, missing)

    @staticmethod
    def write_stack_objects(preview: StackPreview, folder: Path) -> list[Path]:
        """Write a previewed stack's Kubernetes objects as YAML into ``folder``; the files written."""
        from modelplane.stacks.preview import write_objects

        written: list[Path] = write_objects(preview.rendered, folder)
        return written

    # -- capacity: measure a replica, convert a benchmark ------------------------------------------

    def _endpoint(self, name: str) -> tuple[Any, Any, str]:
        """The typed endpoint and model named ``name``, and the environment."""
        from modelplane.errors import ModelplaneError, did_you_mean
        from modelplane.specs.base import NodeId

        graph = self.compile().graph
        name = name.removeprefix("endpoint/")
        node = graph.nodes.get(NodeId("endpoint", name))
        env = self.settings.environment
        if node is None:
            names = [n.name for n in graph.iter_kind("Endpoint")]
            raise ModelplaneError(f"no endpoint named `{name}` in {env}", hint=did_you_mean(name, names, "endpoints"))
        model = graph.nodes[NodeId("model", node.spec["model"])].model
        return node.model, model, env

    def default_profile_path(self, endpoint: str) -> Path:
        folder = self.settings.project.profiles
        return self.root / folder / f"{endpoint.removeprefix('endpoint/')}-{self.settings.environment}.json"

    def bench(
        self,
        endpoint: str,
        *,
        url: str | None = None,
        out: Path | None = None,
        probe_seconds: float = 5.0,
        max_probes: int = 25,
        progress: Callable[[int, Any], None] | None = None,
    ) -> tuple[Any, Path]:
        """Measure one replica of ``endpoint`` (running on the local stack, or at ``url``) and write its profile."""
        from modelplane.compiler.capacity.profile import key_of
        from modelplane.runtime.bench import Target, host, local_target, measure, write_profile
        from modelplane.stacks.engine import served_name

        ep, model, env = self._endpoint(endpoint)
        key = key_of(ep.spec, model.metadata.name, model.spec)
        served = served_name(ep, model)
        target = (
            Target(url, served, "vllm", f"the server at {url} (from {host()})")
            if url
            else local_target(self.root, env, ep.metadata.name, served)
        )
        declared = ep.spec.capacity.target_qps_per_replica
        profile = measure(
            key,
            target,
            p99_slo_ms=ep.spec.slo.p99_latency_ms,
            ttft_slo_ms=ep.spec.slo.ttft_p99_ms,
            availability=ep.spec.slo.availability,
            start_rate=(declared / 4) if declared else 1.0,
            endpoint=f"endpoint/{ep.metadata.name}",
            environment=env,
            probe_seconds=probe_seconds,
            max_probes=max_probes,
            progress=progress,
        )
        path = out or self.default_profile_path(ep.metadata.name)
        write_profile(profile, path)
        return profile, path

    def bench_import(self, file: Path, endpoint: str, out: Path | None = None) -> tuple[Any, Path]:
        """Convert a ``vllm bench serve`` result or a GuideLLM report into a profile of ``endpoint``."""
        from modelplane.compiler.capacity.convert import profile_from_benchmark
        from modelplane.runtime.bench import write_profile

        ep, model, env = self._endpoint(endpoint)
        profile = profile_from_benchmark(file, ep, model, env)
        path = out or self.default_profile_path(ep.metadata.name)
        write_profile(profile, path)
        return profile, path

    # -- apply: a durable Temporal workflow ---------------------------------------------------------

    async def apply(
        self,
        plan: Plan | Path | str | None = None,
        *,
        planfile: Path | None = None,
        options: ApplyOptions | None = None,
        hooks: ApplyHooks | None = None,
    ) -> Launched:
        """Start (or re-attach to) the apply of ``plan``: a saved plan (read from ``planfile``), or its file;
        None plans now.

        Returns at once with ``Launched.handle``, an ``ApplyHandle``: ``await handle.result()`` waits for the
        end, ``handle.progress()`` says where it is. ``options`` are ``apply``'s; ``hooks`` show the plan and
        confirm it (default: confirmed).
        """
        from modelplane.runtime.apply import launch, load_plan_file

        saved: Plan | None = plan if not isinstance(plan, str | Path) else None
        if isinstance(plan, str | Path):
            planfile, saved = Path(plan), load_plan_file(Path(plan))
        return await launch(self.settings, saved, planfile, options, hooks)

    async def running(self) -> tuple[Running, ApplyHandle] | None:
        """The apply running on the environment now (who started it, from where) and a handle to follow it."""
        from modelplane.runtime.apply import attach

        return await attach(self.settings)

    @staticmethod
    def read_plan(path: Path) -> Plan:
        """A plan saved with ``plan --out`` (an error naming the file where it is not one)."""
        from modelplane.runtime.apply import load_plan_file

        return load_plan_file(path)

    @staticmethod
    def apply_options(
        *, parallelism: int = 8, auto_approve: bool = False, wait_approvals: float = 0, allow_stale_specs: bool = False
    ) -> ApplyOptions:
        from modelplane.runtime.apply import ApplyOptions

        return ApplyOptions(
            parallelism=parallelism,
            auto_approve=auto_approve,
            wait_approvals=wait_approvals,
            allow_stale_specs=allow_stale_specs,
        )

    @staticmethod
    def apply_hooks(
        show_plan: Callable[[Plan], None], confirm: Callable[[Plan], bool], note: Callable[[str], None]
    ) -> ApplyHooks:
        """How an apply shows its plan, asks before it starts and says what it notices."""
        from modelplane.runtime.apply import ApplyHooks

        return ApplyHooks(show_plan=show_plan, confirm=confirm, note=note)

    async def running_workflow(self) -> Any:
        """The Temporal handle of the apply running on the environment; an error where none runs."""
        from modelplane.errors import ModelplaneError

        found = await self.running()
        if found is None:
            s = self.settings
            raise ModelplaneError(
                f"no apply is running on {s.project.name}/{s.environment}",
                hint=f"`modelplane status --env {s.environment}` shows the last one",
            )
        return found[1].workflow

    async def signal(self, name: Literal["pause", "resume", "abort"], reason: str = "") -> None:
        """Send the running apply ``pause``, ``resume`` or ``abort`` (with its reason), by method reference."""
        from modelplane.runtime.temporal.workflows import ApplyPlanWorkflow

        handle = await self.running_workflow()
        if name == "pause":
            await handle.signal(ApplyPlanWorkflow.pause)
        elif name == "resume":
            await handle.signal(ApplyPlanWorkflow.resume)
        else:
            await handle.signal(ApplyPlanWorkflow.abort, reason)

    async def approve_gate(self, target: str | None) -> list[str]:
        """Approve the running apply's rollouts waiting at a manual gate (``target``: one endpoint, or every
        waiting one); the targets approved."""
        from modelplane.runtime.approve import approve_gates

        return await approve_gates(await self.running_workflow(), target)

    def approve_plan(self, plan: str, owner: str) -> PlanApproval:
        """Record ``owner``'s approval of a plan (a file from ``plan --out``, or the id of the working tree's plan
        now) in the state store, checked against the plan's own sealed policy."""
        from modelplane.runtime.approve import approve_plan

        return approve_plan(self.settings, self.store(), plan, owner)

    @staticmethod
    def requested_by() -> str:
        """Who asks, as ``user@host`` (recorded with applies, approvals and unlocks)."""
        from modelplane.runtime.apply import requested_by

        return requested_by()

    def close_ended_applies(self, rows: list[HistoryEntry], timeout_s: float = 5.0) -> bool:
        """Record the ending of "running" applies in ``rows`` whose workflow was closed on the server (terminated,
        timed out); asks only a server already running, for at most ``timeout_s`` (False: nothing recorded)."""
        from modelplane.runtime.apply import close_ended_applies

        return close_ended_applies(self.settings, rows, timeout_s)

    # -- the local stack ----------------------------------------------------------------------------

    def router_of(self, endpoint: str) -> tuple[str, str]:
        """(router URL, served model name) of an endpoint running on the local stack."""
        from modelplane.runtime.local.observe import router_of

        return router_of(self.settings.root, self.settings.environment, endpoint)

    def load(
        self,
        endpoint: str,
        *,
        qps: float,
        duration: float,
        input_tokens: int,
        output_tokens: int,
        arrivals: str = "poisson",
    ) -> LoadResult:
        """Send open-loop load to a local endpoint's router for ``duration`` seconds; what came back."""
        import asyncio

        from modelplane.runtime.local.load import run_load

        url, model = self.router_of(endpoint)
        return asyncio.run(run_load(url, model, qps, duration, input_tokens, output_tokens, arrivals=arrivals))

    async def local_endpoints(self) -> list[LocalEndpoint]:
        """Every local endpoint of the environment, from its registry, and what its router says now."""
        from modelplane.runtime.local.observe import local_endpoints

        return await local_endpoints(self.settings.root, self.settings.environment)

    # -- the embedded Temporal server and workers ---------------------------------------------------

    async def serve_worker(
        self, idle_exit: float | None = None, *, health_port: int | None = None, log_format: str = "text"
    ) -> None:
        """Run a worker in the foreground until stopped (SIGTERM: gracefully)."""
        from modelplane.runtime.temporal.worker import serve

        await serve(self.root, self.env, idle_exit, health_port=health_port, log_format=log_format)

    def server_running(self) -> ServerInfo | None:
        """The project's embedded Temporal server, where one runs."""
        from modelplane.runtime.temporal.server import running_server

        return running_server(self.root)

    def stop_server(self) -> bool:
        """Stop the embedded server and its background worker; False where no server ran."""
        from modelplane.runtime.temporal.client import stop_worker
        from modelplane.runtime.temporal.server import stop_server

        stop_worker(self.root)
        return stop_server(self.root) is not None

    def start_server_foreground(self) -> tuple[Any, ServerInfo]:
        """Start the embedded server in the foreground (its process, and where it listens)."""
        from modelplane.runtime.temporal.server import start_foreground

        s = self.settings
        proc, info = start_foreground(self.root, s.temporal.namespace, s.temporal.ui, s.environment)
        return proc, info

    # -- state: read through the environment's store ---------------------------------------------

    @cached_property
    def settings(self) -> Settings:
        """The environment's resolved settings (Temporal, state store), from ``modelplane.yaml``."""
        from modelplane.runtime.settings import settings_for

        return settings_for(self.root, self.env)

    def _live_state(self) -> StateReader | None:
        """The applied state, with a repair pending for each local endpoint whose stack drifted since (a router
        or autoscaler died, a canary's lease expired: ``runtime.local.drift``) while no apply runs."""
        from modelplane.runtime.local.drift import LocalRepairs

        store = self.applied_state()
        if store is None or self.unfinished_apply(store) is not None:
            return store
        return LocalRepairs(store, self.settings.root)

    def applied_state(self) -> Store | None:
        """The environment's state store, or None before the first apply (reading never creates it)."""
        from modelplane.runtime.state import existing_store

        store = existing_store(self.settings.root, self.settings.state)
        running = self.unfinished_apply(store)
        if running is not None and self.on_unfinished is not None:
            self.on_unfinished(running)
        return store

    def store(self) -> Store:
        """The environment's state store, created (or migrated) if needed."""
        from modelplane.runtime.settings import open_store

        return open_store(self.settings.root, self.settings.state)

    def existing_store(self) -> Store:
        """The environment's state store; an error where there is none yet (nothing applied)."""
        from modelplane.errors import ModelplaneError
        from modelplane.runtime.state import existing_store

        s = self.settings
        store = existing_store(s.root, s.state)
        if store is None:
            raise ModelplaneError(
                f"there is no state for {s.project.name} yet ({s.state.path} does not exist)",
                hint="`modelplane apply` creates it",
            )
        return store

    def export_state(self) -> str:
        """Everything the store holds, as a versioned JSON document (deterministic: same state, same bytes)."""
        from modelplane.runtime.state.export import dumps, export_document

        return dumps(export_document(self.existing_store()))

    def import_state(self, text: str, source: str, force: bool = False) -> tuple[int, str]:
        """Load an export into the environment's store (empty unless ``force``); the rows loaded and the store."""
        from modelplane.runtime.state.export import import_rows, parse_document

        rows = parse_document(text, source)
        store = self.store()
        return import_rows(store, rows, force), store.describe()

    def sqlite_state_path(self) -> Path:
        from modelplane.runtime.settings import state_path

        return state_path(self.settings.root, self.settings.state)

    def migrate_state(self, to: str, force: bool = False) -> ToPostgres:
        """Copy the SQLite state into PostgreSQL at ``to`` and check both export the same."""
        from modelplane.runtime.state.to_postgres import migrate_to_postgres

        return migrate_to_postgres(self.settings, to, force)

    def unfinished_apply(self, store: Store | None) -> HistoryEntry | None:
        """The environment's last apply if it has not finished (what a plan shows is then the state so far)."""
        last = store.history(self.settings.environment, limit=1) if store is not None else []
        return last[0] if last and last[0].outcome == "running" else None

    def state_summary(self) -> StateSummary:
        """The applied state (serial, nodes, pending work), the stacks' outputs and the last apply."""
        store, env = self.store(), self.settings.environment
        last = store.history(env, limit=1)
        return StateSummary(env, store.applied(env), store.outputs(env), last[0] if last else None)

    def down(self, keep_server: bool = False) -> Down:
        """Stop every local endpoint of the environment and forget what ran on the local stack (the next
        apply brings it back); unless ``keep_server``, the background worker and embedded server too."""
        from modelplane.runtime.local.registry import all_registries
        from modelplane.runtime.provisioners.local import down_endpoint
        from modelplane.runtime.temporal.client import stop_worker
        from modelplane.runtime.temporal.server import stop_server
        from modelplane.specs.enums import Kind
        from modelplane.specs.providers import registry as providers

        s = self.settings
        stopped = {
            reg.endpoint: down_endpoint(s.root, s.environment, reg.endpoint)
            for _, reg in all_registries(s.root, s.environment)
        }
        store = self.store()
        applied = store.applied(s.environment)
        local = {
            k
            for k, n in applied.nodes.items()
            if n.kind == Kind.STACK and providers.is_local(n.data["spec"]["provider"])
        }
        gone = [
            k
            for k, n in applied.nodes.items()
            if k in local or (n.kind == Kind.ENDPOINT and f"stack/{n.data['spec']['stack']}" in local)
        ]
        if gone:
            store.record(s.environment, "down", deletes=gone)
        if keep_server:
            return Down(stopped, gone)
        return Down(stopped, gone, worker_stopped=stop_worker(s.root), server_stopped=stop_server(s.root) is not None)

    def history(self, limit: int = 20) -> list[HistoryEntry]:
        """Past applies of the environment, newest first."""
        return self.store().history(self.settings.environment, limit)

    def node_history(self, node: str) -> NodeHistory:
        """One node's history in the environment (``modelplane show``): versions applied, runs, and per kind
        a model's artifacts, an evaluation's metrics, an endpoint's rollouts and weights (JSON-able)."""
        from modelplane.errors import ModelplaneError
        from modelplane.runtime.state.node_history import node_history

        store = self.applied_state()
        env = self.settings.environment
        if store is None:
            raise ModelplaneError(f"nothing is applied in {env} yet", hint="run `modelplane apply` first")
        return node_history(store, env, self._node_id(node))

    def node_histories(self) -> dict[str, NodeHistory]:
        """Every applied node's history, read at once (the docs site's timelines); empty before the first apply."""
        from modelplane.runtime.state.node_history import histories

        store = self.applied_state()
        return histories(store, self.settings.environment) if store is not None else {}

    def _node_id(self, node: str) -> str:
        """``kind/name``, or a bare name the compiled graph resolves to one node."""
        if "/" in node:
            kind, _, name = node.partition("/")
            return f"{kind.lower()}/{name}"
        from modelplane.errors import ModelplaneError

        try:
            matches = sorted(str(n) for n in self.compile().graph.nodes if n.name == node)
        except ModelplaneError:
            matches = []
        if len(matches) == 1:
            return matches[0]
        raise ModelplaneError(
            f"`{node}` names {'several nodes: ' + ', '.join(matches) if matches else 'no node in the specs'}",
            hint="write it as kind/name, e.g. model/" + node,
        )
