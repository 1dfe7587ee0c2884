"""State-store figures on both backends: per-write latency, and `state migrate` of a large state.

Starts its own PostgreSQL (as the tests do: initdb on a loopback port in a temp folder, fsync off, so the
PostgreSQL figures leave out disk flushes) and prints figures. Run from the repository root:

    .venv/bin/python benchmarks/bench_state.py --nodes 10000
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _options import options

from modelplane.runtime.state.export import export_document, migrate
from modelplane.runtime.state.ports import EffectWrites
from modelplane.runtime.state.postgres import PostgresStore
from modelplane.runtime.state.sqlite import StateStore


def per_op(store: Any, n: int) -> dict[str, float]:
    """Median milliseconds of the writes an action makes: ledger begin + done, and a one-node record."""
    begin: list[float] = []
    done: list[float] = []
    record: list[float] = []
    for i in range(n):
        t0 = time.perf_counter()
        store.ledger_begin(f"k{i}", "dev", "a", f"run:{i}")
        t1 = time.perf_counter()
        store.ledger_done(
            f"k{i}", {"ok": True}, environment="dev", apply_id="a", writes=EffectWrites(outputs={f"n/{i}": {"u": i}})
        )
        t2 = time.perf_counter()
        store.record("dev", "a", upserts=[(f"dataset/d{i}", "Dataset", "f.yaml", 0, {"i": i})])
        t3 = time.perf_counter()
        begin.append(t1 - t0)
        done.append(t2 - t1)
        record.append(t3 - t2)

    def med(xs: list[float]) -> float:
        return sorted(xs)[len(xs) // 2] * 1000

    return {"ledger_begin": med(begin), "ledger_done": med(done), "record": med(record)}


def main() -> None:
    args = options(__doc__, nodes=10_000, ops=300)
    from tests.pg_server import PASSWORD, PgServer  # type: ignore[import-not-found]  # tests/ is outside the package

    server = PgServer.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            stores: list[tuple[str, Any]] = [
                ("sqlite", StateStore(Path(tmp) / "ops.db")),
                ("postgres", PostgresStore(server.url(server.create_database()), PASSWORD)),
            ]
            for name, store in stores:
                figures = per_op(store, args.ops)
                print(f"{name:9} per write (median ms): " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
                store.close()

            src = StateStore(Path(tmp) / "big.db")
            doc = {"kind": "Dataset", "metadata": {"name": "x", "labels": {"a": "1"}}, "spec": {"uri": "s3://b/k"}}
            src.record(
                "prod",
                "a1",
                upserts=[(f"dataset/d{i}", "Dataset", f"specs/{i}.yaml", 0, doc) for i in range(args.nodes)],
            )
            for i in range(args.nodes):
                src.ledger_begin(f"k{i}", "prod", "a1", f"register:dataset/d{i}")
            t0 = time.perf_counter()
            export_document(src)
            t1 = time.perf_counter()
            target = PostgresStore(server.url(server.create_database()), PASSWORD)
            t2 = time.perf_counter()
            result = migrate(src, target)
            t3 = time.perf_counter()
            again = migrate(src, target)
            t4 = time.perf_counter()
            print(f"export of {args.nodes} nodes + {args.nodes} ledger rows ({result.rows} rows): {t1 - t0:.2f} s")
            print(
                f"state migrate (copy + verify by export): {t3 - t2:.2f} s; second run (nothing to do): {t4 - t3:.2f} s"
            )
            assert result.copied and not again.copied
    finally:
        server.stop()


if __name__ == "__main__":
    main()
