"""How long a file of N invalid documents takes to report; prints figures.

    python benchmarks/bench_bad_docs.py [--docs 10000] [--repeat 3]

Two shapes of bad document in one file each: documents without `kind` (one
diagnostic per document, located at the document's start) and Dataset
documents with a wrong `format` value (located at the value inside the
document). Both must cost O(N): before the fix every diagnostic split the whole
file into lines again. Runs the compile in-process (no interpreter start), no
caches. Never a timed assertion: it prints.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _options import options

from modelplane.compiler.load.loader import load
from modelplane.errors import SpecError


def missing_kind(i: int) -> str:
    return f"---\nfoo: {i}\n"


def bad_value(i: int) -> str:
    return (
        "---\napiVersion: modelplane/v1\nkind: Dataset\n"
        f"metadata: {{name: d-{i}, owner: team}}\nspec: {{uri: 'file://x', format: nope}}\n"
    )


SHAPES: dict[str, Callable[[int], str]] = {"missing-kind": missing_kind, "bad-value": bad_value}


def project(root: Path, text: str) -> None:
    (root / "specs").mkdir(parents=True)
    # a file of 10,000 documents is larger than the default 1 MiB limit
    (root / "modelplane.yaml").write_text("name: bench\nlimits: {max_file_bytes: 104857600}\n")
    (root / "specs" / "bad.yaml").write_text(text)


def once(root: Path) -> tuple[float, int]:
    t = time.perf_counter()
    try:
        load(root, use_cache=False)
    except SpecError as exc:
        return time.perf_counter() - t, len(exc.diagnostics)
    raise SystemExit("expected the documents to be invalid")


def main() -> None:
    args = options(__doc__, docs=10_000, repeat=3)
    for shape, make in SHAPES.items():
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            project(root, "".join(make(i) for i in range(args.docs)))
            runs = [once(root) for _ in range(args.repeat)]
            took = statistics.median(t for t, _ in runs)
            print(f"{shape:<13} {args.docs:>6} documents -> {runs[0][1]:>6} diagnostics in {took:6.2f} s (median)")


if __name__ == "__main__":
    main()
