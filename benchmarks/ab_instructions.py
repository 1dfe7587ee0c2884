"""Compare two checkouts' cold `plan --base HEAD~1` by the instructions it executes, under valgrind.

    python benchmarks/ab_instructions.py --a /path/to/base/.venv/bin/python --b .venv/bin/python \\
        --repo /tmp/mp10k [--imports]

On a shared machine the time of the same run can move by a third from one minute to the next
(``ab_compile.py`` interleaves runs and takes medians for that reason). The number of instructions a
run executes barely moves (0.2% between runs here), so a change of a few percent shows at once, where
timings need dozens of rounds. It is work done, not time: page faults, cache misses and the second core
are not in it, so the fork that shares the parse is turned off (``MODELPLANE_PARSE_FORK=0``: the work of
both halves is counted) and the wall-clock figures still come from ``ab_compile.py``.

``--imports`` also counts importing every module the plan imported (each side its own list, read from a
first run): what a command pays before its first stage. Needs ``valgrind`` on the PATH. It prints; it
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

_MODULES = """\
import os, sys, json, runpy
sys.argv = ["modelplane", "plan", "--base", "HEAD~1"]
_exit = os._exit
def _record(code):
    with open(os.environ["AB_MODULES"], "w") as f:
        json.dump(sorted(m for m in sys.modules if m != "__main__"), f)
    _exit(code)
os._exit = _record
try:
    runpy.run_module("modelplane", run_name="__main__")
except SystemExit as e:
    _record(e.code if isinstance(e.code, int) else 1)
"""

_IMPORT_ALL = """\
import importlib, json, os
for name in json.load(open(os.environ["AB_MODULES"])):
    try:
        importlib.import_module(name)
    except Exception:
        pass
"""


def counted(python: str, args: list[str], root: Path, env: dict[str, str]) -> int:
    """Instructions executed by ``python args`` (children included) in ``root``, under callgrind."""
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "--trace-children=no", python, *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(f"valgrind gave no count for {python} {' '.join(args)}:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="python of side A (e.g. the original commit's venv)")
    ap.add_argument("--b", required=True, help="python of side B")
    ap.add_argument(
        "--repo", type=Path, required=True, help="a repository made by gen_specs.py --git --change-upstream"
    )
    ap.add_argument("--imports", action="store_true", help="also count importing what the plan imports")
    args = ap.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not on the PATH (apt-get install valgrind)")
    root: Path = args.repo
    caches = tempfile.TemporaryDirectory(prefix="ab-ir-")
    results: dict[str, dict[str, int]] = {}
    for side, python in (("A", args.a), ("B", args.b)):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"PYTHONPYCACHEPREFIX": str(Path(caches.name) / side), "MODELPLANE_PARSE_FORK": "0"}
        env["AB_MODULES"] = str(Path(caches.name) / f"{side}-modules.json")
        plan = ["-m", "modelplane", "plan", "--base", "HEAD~1"]
        # an untimed run fills the bytecode cache (and lists the modules a plan imports)
        shutil.rmtree(root / ".modelplane", ignore_errors=True)
        subprocess.run([python, "-c", _MODULES], cwd=root, env=env, capture_output=True, check=False)
        shutil.rmtree(root / ".modelplane", ignore_errors=True)
        results[side] = {"plan": counted(python, plan, root, env)}
        shutil.rmtree(root / ".modelplane", ignore_errors=True)
        if args.imports:
            # modules the plan imported only where it failed over (or never ran) have no bytecode yet
            subprocess.run([python, "-c", _IMPORT_ALL], cwd=root, env=env, capture_output=True, check=False)
            results[side]["imports"] = counted(python, ["-c", _IMPORT_ALL], root, env)
            modules = json.loads(Path(env["AB_MODULES"]).read_text())
            results[side]["modules"] = len(modules)
            results[side]["own modules"] = sum(1 for m in modules if m.split(".")[0] == "modelplane")
    print("cold plan --base HEAD~1, no fork, instructions (valgrind callgrind)")
    for what in results["A"]:
        a, b = results["A"][what], results["B"][what]
        unit = "" if "modules" in what else " G"
        scale = 1 if "modules" in what else 1e9
        print(f"  {what:<12} A {a / scale:8.3f}{unit}   B {b / scale:8.3f}{unit}   B/A {b / a:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
