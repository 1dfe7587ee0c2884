"""Write docs/reference/specs.md from the spec models (after a spec model or a field's description changes).

``--check`` writes nothing and exits 1 when the committed page differs from what the models give
(tests/project/test_spec_reference.py runs the same comparison).
"""

from __future__ import annotations

import sys
from pathlib import Path

from modelplane.specs.reference import render

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference" / "specs.md"

if __name__ == "__main__":
    text = render()
    if "--check" in sys.argv[1:]:
        if not PAGE.is_file() or PAGE.read_text() != text:
            print(f"{PAGE} is stale: run .venv/bin/python tools/gen_spec_reference.py", file=sys.stderr)
            sys.exit(1)
        print(f"{PAGE} is current")
    else:
        PAGE.write_text(text)
        print(f"wrote {PAGE}")
