"""Write the Prometheus metric names a vLLM release exports as package data, read from its published wheel.

    python tools/vllm_metrics.py 0.33.0                     # downloads the wheel with pip (336 MB)
    python tools/vllm_metrics.py 0.33.0 --wheel PATH.whl    # reuse a wheel already downloaded

Writes ``stacks/engine_metrics/vllm-<version>.json``: every metric family
(name, type, the module that declares it), the sample names Prometheus
scrapes from them, the wheel's file name and sha256. The render's checks
(``stacks.metric_names``) read it: an HPA, KEDA trigger, adapter rule or
canary query may only name a series that exists.

Like ``tools/vllm_flags.py``, static analysis of the wheel's sources, not
``import vllm`` (which needs torch and CUDA): a metric is a call whose callee
is a prometheus_client class or vLLM's alias of one (``Gauge``,
``self._counter_cls``, ``prometheus_client.Histogram``...) with a ``name``
(keyword or first argument) that is a ``"vllm:..."`` string, or a name bound
to one (``NAME = "vllm:..."`` at module, class or function level). The type
comes from the callee's name. Sample names follow prometheus_client's text
exposition: a counter ``x`` (or ``x_total``) is scraped as ``x_total``, a
histogram as ``x_bucket``/``x_sum``/``x_count``, a summary as
``x_sum``/``x_count``, an Info as ``x_info``, a gauge as ``x``; ``_created``
series are left out (vLLM disables them: ``disable_created_metrics``).

Generated for 0.33.0 from vllm-0.33.0-cp38-abi3-manylinux_2_28_x86_64.whl
downloaded from PyPI with ``pip download --no-deps vllm==0.33.0``.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vllm_flags import download, sha256, wheel_sources

OUT_DIR = Path(__file__).resolve().parent.parent / "stacks" / "engine_metrics"
PREFIX = "vllm:"
KINDS = ("histogram", "counter", "gauge", "summary", "info")


def _callee(call: ast.Call) -> str:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""


def _kind(callee: str) -> str | None:
    low = callee.lower()
    return next((k for k in KINDS if k in low), None)


def _constant_bindings(scope: ast.AST) -> dict[str, set[str]]:
    """identifier -> the ``vllm:`` strings bound to it in this scope: ``X = "vllm:..."`` (also ``self.X``), and
    ``for X, ... in SPECS`` where ``SPECS`` is assigned lists of tuples whose first element is one."""
    out: dict[str, set[str]] = {}
    lists: dict[str, set[str]] = {}
    for node in ast.walk(scope):
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        keys = [t.id if isinstance(t, ast.Name) else t.attr if isinstance(t, ast.Attribute) else "" for t in targets]
        if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            if node.value.value.startswith(PREFIX):
                for key in filter(None, keys):
                    out.setdefault(key, set()).add(node.value.value)
        elif isinstance(node.value, ast.List | ast.Tuple):
            heads = {
                e.elts[0].value
                for e in node.value.elts
                if isinstance(e, ast.Tuple)
                and e.elts
                and isinstance(e.elts[0], ast.Constant)
                and isinstance(e.elts[0].value, str)
                and e.elts[0].value.startswith(PREFIX)
            }
            for key in filter(None, keys):
                lists.setdefault(key, set()).update(heads)
    for node in ast.walk(scope):
        loops = [node] if isinstance(node, ast.For) else getattr(node, "generators", [])
        for loop in loops:
            target, it = loop.target, loop.iter
            first = target.elts[0] if isinstance(target, ast.Tuple) and target.elts else None
            if isinstance(first, ast.Name) and isinstance(it, ast.Name) and it.id in lists:
                out.setdefault(first.id, set()).update(lists[it.id])
    return out


def extract(files: dict[str, str]) -> tuple[dict[str, dict[str, str]], list[str]]:
    """(family name -> {type, module}, what could not be resolved) for every vLLM metric in these sources.

    A name given as an identifier is looked up in the enclosing function first, then in the whole file (module
    and class constants); never across files, where an unrelated ``name`` would match."""
    families: dict[str, dict[str, str]] = {}
    unresolved: list[str] = []
    for path, text in sorted(files.items()):
        if PREFIX not in text:
            continue
        tree = ast.parse(text, path)
        file_bindings = _constant_bindings(tree)
        functions = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        local = {id(f): _constant_bindings(f) for f in functions}
        enclosing = {id(c): f for f in functions for c in ast.walk(f) if isinstance(c, ast.Call)}
        for call in [n for n in ast.walk(tree) if isinstance(n, ast.Call)]:
            kind = _kind(_callee(call))
            if kind is None:
                continue
            arg = next((k.value for k in call.keywords if k.arg == "name"), call.args[0] if call.args else None)
            if arg is None:
                continue
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names = {arg.value}
            elif isinstance(arg, ast.Name | ast.Attribute):
                key = arg.id if isinstance(arg, ast.Name) else arg.attr
                fn = enclosing.get(id(call))
                names = (local[id(fn)].get(key) if fn is not None else None) or file_bindings.get(key, set())
                if not names:
                    continue  # not a vLLM metric name (another library's metric, a reader's record)
            else:
                if PREFIX in ast.unparse(arg):
                    unresolved.append(f"{path}:{call.lineno}: name={ast.unparse(arg)}")
                continue
            for name in names:
                if not name.startswith(PREFIX):
                    continue
                seen = families.get(name)
                if seen is not None and seen["type"] != kind:
                    unresolved.append(f"{path}:{call.lineno}: {name} declared as {seen['type']} and {kind}")
                families.setdefault(name, {"type": kind, "module": path})
    return dict(sorted(families.items())), unresolved


def samples(name: str, kind: str) -> list[str]:
    """The series names prometheus_client's text exposition gives a family (without ``_created``)."""
    if kind == "counter":
        return [name.removesuffix("_total") + "_total"]
    if kind == "histogram":
        return [name + s for s in ("_bucket", "_sum", "_count")]
    if kind == "summary":
        return [name + "_sum", name + "_count"]
    if kind == "info":
        return [name.removesuffix("_info") + "_info"]
    return [name]


def write(version: str, wheel: Path, out_dir: Path) -> dict[str, Any]:
    families, unresolved = extract(wheel_sources(wheel))
    for u in unresolved:
        print(f"vllm {version}: not resolved: {u}", file=sys.stderr)
    data = {
        "engine": "vllm",
        "version": version,
        "wheel": wheel.name,
        "sha256": sha256(wheel),
        "source": f"https://pypi.org/project/vllm/{version}/",
        "generated_by": "tools/vllm_metrics.py",
        "families": families,
        "samples": sorted({s for n, f in families.items() for s in samples(n, f["type"])}),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"vllm-{version}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"vllm {version}: {len(families)} metric families, {len(data['samples'])} series -> {path}")
    return data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("versions", nargs="+")
    p.add_argument("--wheel", type=Path, action="append", default=[], help="an already downloaded wheel (repeatable)")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    args = p.parse_args(argv)
    given = {w.name.split("-")[1]: w for w in args.wheel}
    with tempfile.TemporaryDirectory(prefix="vllm-wheel-") as tmp:
        for version in args.versions:
            wheel = given.get(version) or download(version, Path(tmp) / version)
            write(version, wheel, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
