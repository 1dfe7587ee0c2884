"""How long one mapping with N unknown keys takes to report; prints figures.

    python benchmarks/bench_many_keys.py [--keys 40000] [--repeat 3]

One Dataset document whose ``spec`` holds N unknown keys (besides its own):
every key is an unknown-field diagnostic with a "did you mean" hint, located
at its key. Must cost O(N): before the fix each diagnostic's location search
and hint compared against every key of the mapping (40,000 keys took 120 s).
Runs the compile in-process, no caches. Never a timed assertion: it prints.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from _options import options

from modelplane.compiler.load.loader import load
from modelplane.errors import SpecError


def document(keys: int) -> str:
    extra = "".join(f"  k{i}: 0\n" for i in range(keys))
    return (
        "apiVersion: modelplane/v1\nkind: Dataset\nmetadata: {name: d, owner: team}\n"
        f"spec:\n  uri: 'file://x'\n  format: jsonl\n{extra}"
    )


def once(root: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, diagnostics): the CPU time is the figure on a machine shared with other work."""
    t, c = time.perf_counter(), time.process_time()
    try:
        load(root, use_cache=False)
    except SpecError as exc:
        return time.perf_counter() - t, time.process_time() - c, len(exc.diagnostics)
    raise SystemExit("expected the document to be invalid")


def main() -> None:
    args = options(__doc__, keys=40_000, repeat=3)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "specs").mkdir()
        (root / "modelplane.yaml").write_text("name: bench\n")
        (root / "specs" / "many.yaml").write_text(document(args.keys))
        size = (root / "specs" / "many.yaml").stat().st_size
        runs = [once(root) for _ in range(args.repeat)]
        took = statistics.median(t for t, _, _ in runs)
        cpu = statistics.median(c for _, c, _ in runs)
        print(
            f"{args.keys:>6} unknown keys in one mapping ({size / 1024:.0f} KiB) -> {runs[0][2]} diagnostics "
            f"in {took:6.2f} s wall, {cpu:6.2f} s CPU (median of {args.repeat})"
        )


if __name__ == "__main__":
    main()
