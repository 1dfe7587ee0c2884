"""How long the embedded Temporal server takes to start (to a client's first answer) and to stop.

The local apply tests start it many times, so the gate (issue 30: a network of its own, forwarded to the
owner alone) must not slow that down. Prints each figure's median and the load average beside it.

    .venv/bin/python benchmarks/bench_temporal_start.py --runs 5
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

from _options import options

from modelplane.runtime.temporal.server import ensure_server, stop_server


async def _first_answer(address: str) -> None:
    from temporalio.client import Client

    client = await Client.connect(address)
    await client.count_workflows()


def main() -> None:
    opts = options(__doc__, runs=5)
    starts, answers, stops = [], [], []
    for _ in range(opts.runs):
        root = Path(tempfile.mkdtemp(prefix="bench-temporal-"))
        t0 = time.monotonic()
        info = ensure_server(root, ui="read-only")
        t1 = time.monotonic()
        asyncio.run(_first_answer(info.address))
        t2 = time.monotonic()
        stop_server(root)
        t3 = time.monotonic()
        starts.append(t1 - t0)
        answers.append(t2 - t0)
        stops.append(t3 - t2)
    isolation = getattr(info, "isolation", "") or "(no gate)"
    print(f"isolation: {isolation}; {opts.runs} runs, medians:")
    print(f"  ensure_server        {statistics.median(starts):.2f} s")
    print(f"  to a client's answer {statistics.median(answers):.2f} s")
    print(f"  stop_server          {statistics.median(stops):.2f} s")
    print(f"  load average         {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
