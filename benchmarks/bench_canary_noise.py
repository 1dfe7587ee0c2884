"""Canary decisions that noise does not flip, on the real local stack; prints figures, never asserts.

    python benchmarks/bench_canary_noise.py [--runs 20] [--window 5] [--hogs 1] [--weight 50]

The quickstart's endpoint (examples/quickstart, compiled as `plan` compiles it),
its stable and canary revisions started by the local provisioner as real
simulator replica processes behind the real router, exactly the rollout
steps' code (``LocalProvisioner.start / wait_ready / set_weights / observe``):
each window is topped up with the rollout's own synthetic traffic, read back
from the router's ``/admin/stats`` and judged by ``runtime.analysis.judge``
(the rank test); a failed window is looked at again as the endpoint's
``failure_limit`` says (``RolloutPolicy.tolerates``, the workflow's rule).
Temporal is left out: it only orders these calls.

Two scenarios, ``--runs`` rollout steps each, with ``--hogs`` processes
spinning on the CPU beside them the whole time:

- A/A: the canary is the stable revision's twin (same simulator settings);
  it should promote (>= 19 of 20 runs);
- slow: the canary's simulator has ``latency_multiplier: 1.5``; it should be
  rolled back (>= 19 of 20 runs).

Prints the machine's load average before and after (the machine is shared).
"""

from __future__ import annotations

import asyncio
import copy
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path

from _options import options

from modelplane.compiler.compile import make_plan
from modelplane.compiler.plan.execution import executable
from modelplane.runtime.analysis import judge
from modelplane.runtime.executors import Context
from modelplane.runtime.provisioners.local import LocalProvisioner, down_endpoint
from modelplane.runtime.temporal.messages import ActionSpec
from modelplane.runtime.typed import endpoint_spec, rollout_policy

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "quickstart"


def _hog() -> None:
    while True:
        pass


def _action(root: Path, window: float) -> ActionSpec:
    result = make_plan(root, "dev", use_cache=False)
    plan = executable(result.plan, result.head.graph, result.base)
    assert plan.execution is not None
    [e] = [a for a in plan.execution.actions if a.id == "rollout:endpoint/tiny-chat"]
    spec = ActionSpec(id=e.id, type="rollout", target="endpoint/tiny-chat", details=e.details, node=e.node,
                      context=e.context)  # fmt: skip
    node = copy.deepcopy(spec.node or {})
    node["spec"]["rollout"]["analysis"]["window"] = f"{window:g}s"
    return spec.model_copy(update={"node": node})


def _canary(action: ActionSpec, multiplier: float) -> ActionSpec:
    node = copy.deepcopy(action.node or {})
    node["spec"]["engine"].setdefault("simulator", {})["latency_multiplier"] = multiplier
    return action.model_copy(update={"node": node})


async def _step(prov: LocalProvisioner, ctx: Context, canary: ActionSpec, weight: int) -> tuple[str, list[str]]:
    """One analysed rollout step: windows until a pass, or a failure failure_limit does not tolerate."""
    spec = endpoint_spec(canary.node)
    policy = rollout_policy(canary.node, canary.context)
    failed, reasons = 0, []
    for _ in range(policy.inconclusive_limit + 3):
        stats = await prov.observe(ctx, canary, policy.window_s, policy.need, True, ["canary", "stable"])
        v = judge(spec, stats.get("canary", {}), stats.get("stable"), weight, tests=True)
        reasons.append(f"{v.result} ({v.gate}{', marginal' if v.marginal else ''}): {v.reason}")
        if v.result == "pass":
            return "promoted", reasons
        if v.result == "fail":
            failed += 1
            if not policy.tolerates(failed, v.marginal):
                return "rolled back", reasons
    return "undecided", reasons


async def scenario(root: Path, base: ActionSpec, multiplier: float, runs: int, weight: int) -> dict[str, int]:
    prov = LocalProvisioner()
    ctx = Context(root=root, environment="dev", apply_id="bench", key="bench", attempt=1, run_dir=root / "runs")
    canary = _canary(base, multiplier)
    await prov.ensure_router(ctx, base)
    await prov.start(ctx, base, "stable", 1)
    await prov.wait_ready(ctx, base, "stable")
    await prov.promote(ctx, base, "stable")
    await prov.start(ctx, canary, "canary", 1)
    await prov.wait_ready(ctx, canary, "canary")
    await prov.set_weights(ctx, canary, {"stable": 100 - weight, "canary": weight})
    outcomes: dict[str, int] = {}
    try:
        for i in range(runs):
            outcome, reasons = await _step(prov, ctx, canary, weight)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            print(f"  run {i + 1:2d}: {outcome:11s} after {len(reasons)} window(s); last: {reasons[-1][:230]}")
    finally:
        down_endpoint(root, "dev", "tiny-chat")
    return outcomes


def main() -> None:
    opts = options(__doc__, runs=20, window=5.0, hogs=1, weight=50)
    hogs = [multiprocessing.Process(target=_hog, daemon=True) for _ in range(opts.hogs)]
    for h in hogs:
        h.start()
    print(f"load average before: {os.getloadavg()}; {opts.hogs} CPU hog(s); {os.cpu_count()} CPUs")
    tmp = Path(tempfile.mkdtemp(prefix="bench-canary-"))
    try:
        root = tmp / "quickstart"
        shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".modelplane"))
        base = _action(root, opts.window)
        results = {}
        for name, multiplier in (("A/A (identical canary)", 1.0), ("canary 1.5x slower", 1.5)):
            print(f"{name}: {opts.runs} rollout steps at weight {opts.weight}%, {opts.window:g} s windows")
            start = time.monotonic()
            results[name] = asyncio.run(scenario(root, base, multiplier, opts.runs, opts.weight))
            print(f"  -> {results[name]} in {time.monotonic() - start:.0f} s")
        print(f"load average after: {os.getloadavg()}")
        aa, slow = results["A/A (identical canary)"], results["canary 1.5x slower"]
        print(
            f"A/A promoted {aa.get('promoted', 0)}/{opts.runs}; 1.5x rolled back {slow.get('rolled back', 0)}/{opts.runs}"
        )
    finally:
        for h in hogs:
            h.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
