"""Write the `vllm serve` flag set of a vLLM release as package data, read from its published wheel.

    python tools/vllm_flags.py 0.33.0 0.32.0 0.11.0     # downloads each wheel with pip
    python tools/vllm_flags.py 0.33.0 --wheel PATH.whl  # reuse a wheel already downloaded

Writes ``stacks/engine_flags/vllm-<version>.json``: the sorted flags, the
version, the wheel's file name and sha256, and the modules read.

Why static analysis and not ``import vllm``: the parser builder
(``EngineArgs.add_cli_args``) imports torch, transformers and the CUDA
kernels, which a CPU machine without vLLM's dependency tree cannot import. So
this script reads the source the way vLLM builds its parser:

- ``ServeSubcommand.subparser_init`` (``vllm serve``'s parser) is interpreted
  statement by statement, following calls into ``FrontendArgs.add_cli_args``,
  ``AsyncEngineArgs.add_cli_args``, ``EngineArgs.add_cli_args`` and helpers;
- an explicit ``add_argument("--flag", "-f", ...)`` contributes its names;
- ``kw = get_kwargs(SomeConfig)`` binds ``kw`` to that config dataclass; a
  loop ``for key, value in kw.items(): add_argument(f"--{key...}", **value)``
  contributes one flag per dataclass field (base classes included), which is
  how recent releases derive most frontend flags;
- a flag is boolean-optional (argparse adds ``--no-<flag>``) when it says
  ``action=BooleanOptionalAction``, or when its kwargs come from a config
  field whose type contains ``bool`` (``get_kwargs``'s rule; ``bool | str |
  None`` is the exception: an optional-valued flag); from 0.33.0 vLLM's
  parser also registers ``--disable-x`` for ``--enable-x`` and the reverse
  (``EnableDisableAction`` in ``vllm/utils/argparse_utils.py``).

``--cross-check`` compares the result with the real parser where vLLM's
dependencies can be imported (torch CPU suffices); for 0.33.0 and 0.32.0 the
sets are identical.

Anything the interpreter cannot follow is reported on stderr so a new parser
shape shows up when the data is regenerated instead of silently missing flags.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent.parent / "stacks" / "engine_flags"
SERVE_MODULE = "vllm/entrypoints/cli/serve.py"
ARGPARSE_MODULE = "vllm/utils/argparse_utils.py"
MAX_DEPTH = 12
# calls handed the parser that register no in-tree flags: the platform hook is for out-of-tree
# platforms (in-tree ones only set environment variables there)
KNOWN_NO_FLAGS = ("current_platform",)


@dataclass
class ClassInfo:
    name: str
    module: str
    node: ast.ClassDef


@dataclass
class Source:
    """The Python files of one unpacked wheel, parsed on demand."""

    files: dict[str, str]
    trees: dict[str, ast.Module] = field(default_factory=dict)
    classes: dict[str, list[ClassInfo]] = field(default_factory=dict)

    def tree(self, module: str) -> ast.Module:
        if module not in self.trees:
            self.trees[module] = ast.parse(self.files[module], module)
        return self.trees[module]

    def index_classes(self) -> None:
        # classes of the config, engine and entrypoint packages: where parser inputs live
        for path in sorted(self.files):
            if not path.startswith(("vllm/config", "vllm/engine", "vllm/entrypoints")):
                continue
            if "def " not in self.files[path] and "class " not in self.files[path]:
                continue
            for node in self.tree(path).body:
                if isinstance(node, ast.ClassDef):
                    self.classes.setdefault(node.name, []).append(ClassInfo(node.name, path, node))

    def cls(self, name: str, near: str) -> ClassInfo | None:
        found = self.classes.get(name, [])
        if not found:
            return None
        # prefer the definition in the module asking, then vllm/config, then the first
        same = [c for c in found if c.module == near]
        config = [c for c in found if c.module.startswith("vllm/config")]
        return (same or config or found)[0]


@dataclass
class Extractor:
    src: Source
    flags: set[str] = field(default_factory=set)
    read: set[str] = field(default_factory=set)
    unresolved: list[str] = field(default_factory=list)

    inverse_prefixes: dict[str, str] = field(default_factory=dict)
    """FlexibleArgumentParser's EnableDisableAction (0.33+): ``--enable-x`` also gets ``--disable-x``."""

    def bool_optional(self, flag: str) -> None:
        """The forms argparse registers for a BooleanOptionalAction flag (and vLLM's inverse, where it has one)."""
        self.flags.add("--no-" + flag[2:])
        for prefix, inverse in self.inverse_prefixes.items():
            if flag.startswith(prefix):
                self.flags.add(inverse + flag.removeprefix(prefix))

    # ---- dataclass fields -------------------------------------------------

    def fields(self, info: ClassInfo, seen: frozenset[str] = frozenset()) -> dict[str, ast.expr]:
        """name -> annotation of every dataclass field, bases first (dataclasses.fields order)."""
        out: dict[str, ast.expr] = {}
        for base in info.node.bases:
            base_name = base.id if isinstance(base, ast.Name) else base.attr if isinstance(base, ast.Attribute) else ""
            base_info = self.src.cls(base_name, info.module) if base_name and base_name not in seen else None
            if base_info is not None:
                out.update(self.fields(base_info, seen | {info.name}))
        self.read.add(info.module)
        for stmt in info.node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                if "ClassVar" in ast.unparse(stmt.annotation):
                    continue
                out[stmt.target.id] = stmt.annotation
        return out

    def field_is_bool_optional(self, info: ClassInfo, name: str) -> bool:
        ann = self.fields(info).get(name)
        if ann is None:
            self.unresolved.append(f"{info.name}.{name}: no such field")
            return False
        members = self._union_members(ann, info.module)
        if {"bool", "str", "None"} == members:
            return False  # get_kwargs: optional-valued flag (nargs="?"), no --no- form
        return "bool" in members

    def _union_members(self, ann: ast.expr, module: str, depth: int = 0) -> set[str]:
        """Top-level members of a type annotation, Annotated/Optional/Union flattened, aliases followed."""
        if isinstance(ann, ast.Constant) and isinstance(ann.value, str):
            return self._union_members(ast.parse(ann.value, mode="eval").body, module, depth)
        if isinstance(ann, ast.BinOp) and isinstance(ann.op, ast.BitOr):
            return self._union_members(ann.left, module, depth) | self._union_members(ann.right, module, depth)
        if isinstance(ann, ast.Subscript):
            head = ast.unparse(ann.value).rsplit(".", 1)[-1]
            args = ann.slice.elts if isinstance(ann.slice, ast.Tuple) else [ann.slice]
            if head == "Annotated":
                return self._union_members(args[0], module, depth)
            if head == "Optional":
                return self._union_members(args[0], module, depth) | {"None"}
            if head == "Union":
                return set().union(*(self._union_members(a, module, depth) for a in args))
            return {head}
        if isinstance(ann, ast.Constant) and ann.value is None:
            return {"None"}
        if isinstance(ann, ast.Name):
            alias = self._alias(ann.id, module) if depth < 3 else None
            if alias is not None:
                return self._union_members(alias, module, depth + 1)
            return {ann.id}
        return {ast.unparse(ann)}

    def _alias(self, name: str, module: str) -> ast.expr | None:
        if name in ("bool", "str", "int", "float", "None", "dict", "list"):
            return None
        for stmt in self.src.tree(module).body:
            if isinstance(stmt, ast.Assign) and [ast.unparse(t) for t in stmt.targets] == [name]:
                value = stmt.value
                if isinstance(value, ast.BinOp | ast.Subscript):
                    return value
            type_alias = getattr(ast, "TypeAlias", None)  # `type X = ...` (Python 3.12+ sources)
            if type_alias is not None and isinstance(stmt, type_alias) and ast.unparse(stmt.name) == name:
                return stmt.value  # type: ignore[no-any-return]
        return None

    # ---- interpreting the parser builders ---------------------------------

    def function(self, module: str, name: str) -> ast.FunctionDef | None:
        for node in self.src.tree(module).body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return node
        return None

    def method(self, info: ClassInfo, name: str) -> tuple[ClassInfo, ast.FunctionDef] | None:
        for stmt in info.node.body:
            if isinstance(stmt, ast.FunctionDef) and stmt.name == name:
                return info, stmt
        for base in info.node.bases:
            base_name = base.id if isinstance(base, ast.Name) else ""
            base_info = self.src.cls(base_name, info.module) if base_name else None
            if base_info is not None:
                found = self.method(base_info, name)
                if found is not None:
                    return found
        return None

    def run(
        self, module: str, fn: ast.FunctionDef, cls: ClassInfo | None, env: dict[str, ClassInfo], depth: int
    ) -> None:
        if depth > MAX_DEPTH:
            self.unresolved.append(f"{module}:{fn.name}: call depth above {MAX_DEPTH}")
            return
        self.read.add(module)
        ctx = _Ctx(module, cls, dict(env), depth)
        for stmt in fn.body:
            self.stmt(stmt, ctx)

    def stmt(self, stmt: ast.stmt, ctx: _Ctx) -> None:
        if isinstance(stmt, ast.Assign | ast.AnnAssign):
            value = stmt.value
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            if value is not None:
                bound = self.kwargs_class(value, ctx)
                for t in targets:
                    if isinstance(t, ast.Name):
                        if bound is not None:
                            ctx.env[t.id] = bound
                        elif t.id in ctx.env and not self._keeps_binding(value, ctx):
                            del ctx.env[t.id]
                self.expr(value, ctx)
        elif isinstance(stmt, ast.Expr | ast.Return) and stmt.value is not None:
            self.expr(stmt.value, ctx)
        elif isinstance(stmt, ast.For):
            self.for_loop(stmt, ctx)
        elif isinstance(stmt, ast.If | ast.While):
            # both branches: a flag registered under any condition is a flag of the version
            for s in [*stmt.body, *stmt.orelse]:
                self.stmt(s, ctx)
        elif isinstance(stmt, ast.With):
            for s in stmt.body:
                self.stmt(s, ctx)
        elif isinstance(stmt, ast.Try):
            for s in [*stmt.body, *stmt.orelse, *stmt.finalbody]:
                self.stmt(s, ctx)
        elif isinstance(stmt, ast.Delete):
            for t in stmt.targets:
                # `del kwargs["field"]` drops that field's flag before the loop registers it
                if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name) and t.value.id in ctx.env:
                    key = _const_str(t.slice)
                    if key is not None:
                        ctx.dropped.setdefault(t.value.id, set()).add(key)

    def _keeps_binding(self, value: ast.expr, ctx: _Ctx) -> bool:
        # `kw = cls._customize_cli_kwargs(kw)` returns the same mapping
        return isinstance(value, ast.Call) and any(isinstance(a, ast.Name) and a.id in ctx.env for a in value.args)

    def kwargs_class(self, value: ast.expr, ctx: _Ctx) -> ClassInfo | None:
        """The config class of ``get_kwargs(Cls)`` (or ``get_kwargs(cls)`` inside a classmethod)."""
        if isinstance(value, ast.Call) and _callee(value) == "get_kwargs" and value.args:
            arg = value.args[0]
            if isinstance(arg, ast.Name) and arg.id == "cls" and ctx.cls is not None:
                return ctx.cls
            name = arg.id if isinstance(arg, ast.Name) else arg.attr if isinstance(arg, ast.Attribute) else None
            info = self.src.cls(name, ctx.module) if name else None
            if info is None:
                self.unresolved.append(f"{ctx.module}: get_kwargs({ast.unparse(arg)}) not found")
            return info
        return None

    def for_loop(self, loop: ast.For, ctx: _Ctx) -> None:
        it = loop.iter
        if (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Attribute)
            and it.func.attr == "items"
            and isinstance(it.func.value, ast.Name)
            and it.func.value.id in ctx.env
            and isinstance(loop.target, ast.Tuple)
        ):
            var = it.func.value.id
            info = ctx.env[var]
            key_name = loop.target.elts[0]
            assert isinstance(key_name, ast.Name)
            calls = [
                n for s in loop.body for n in ast.walk(s) if isinstance(n, ast.Call) and _callee(n) == "add_argument"
            ]
            if not calls:
                return
            for name in self.fields(info):
                if name in ctx.dropped.get(var, set()):
                    continue
                flag = "--" + name.replace("_", "-")
                self.flags.add(flag)
                if self.field_is_bool_optional(info, name) and not self._overrides_action(calls):
                    self.bool_optional(flag)
            return
        if isinstance(it, ast.List | ast.Tuple):
            # `for arg, type in [("--flag", str), ...]: add_argument(arg, ...)`
            first = loop.target.elts[0] if isinstance(loop.target, ast.Tuple) else loop.target
            if isinstance(first, ast.Name):
                names = []
                for elt in it.elts:
                    head = elt.elts[0] if isinstance(elt, ast.Tuple) and elt.elts else elt
                    if (literal := _const_str(head)) is not None:
                        names.append(literal)
                ctx.loop_names[first.id] = names
        for s in loop.body:
            self.stmt(s, ctx)

    @staticmethod
    def _overrides_action(calls: list[ast.Call]) -> bool:
        return any(k.arg == "action" for c in calls for k in c.keywords)

    def expr(self, node: ast.expr, ctx: _Ctx) -> None:
        for call in [n for n in ast.walk(node) if isinstance(n, ast.Call)]:
            self.call(call, ctx)

    def call(self, call: ast.Call, ctx: _Ctx) -> None:
        name = _callee(call)
        if name == "add_argument":
            self.add_argument(call, ctx)
            return
        target = self.resolve_call(call, ctx)
        if target is not None:
            module, fn, cls = target
            env = {}
            # pass kwargs bindings through positional parameters (e.g. _customize_cli_kwargs(kw))
            params = [a.arg for a in fn.args.args if a.arg not in ("self", "cls")]
            for param, arg in zip(params, call.args, strict=False):
                if isinstance(arg, ast.Name) and arg.id in ctx.env:
                    env[param] = ctx.env[arg.id]
            self.run(module, fn, cls, env, ctx.depth + 1)

    def resolve_call(self, call: ast.Call, ctx: _Ctx) -> tuple[str, ast.FunctionDef, ClassInfo | None] | None:
        func = call.func
        if isinstance(func, ast.Attribute) and (
            _is_parser_name(func.value)
            or ast.unparse(func.value) in KNOWN_NO_FLAGS
            or isinstance(func.value, ast.Constant)
        ):
            return None  # the parser's own methods (add_argument_group, ...), or a hook known to add none
        if not any(_mentions_parser(a) for a in [*call.args, *(k.value for k in call.keywords)]):
            return None  # only calls that are handed the parser (or a group of it) can add flags
        if isinstance(func, ast.Name):
            fn = self.function(ctx.module, func.id)
            if fn is not None:
                return ctx.module, fn, None
            for mod in self._import_candidates(ctx.module, func.id):
                fn = self.function(mod, func.id)
                if fn is not None:
                    return mod, fn, None
            return None
        if isinstance(func, ast.Attribute):
            owner = func.value
            info: ClassInfo | None = None
            if isinstance(owner, ast.Name) and owner.id in ("cls", "self"):
                info = ctx.cls
            elif isinstance(owner, ast.Call) and _callee(owner) == "super" and ctx.cls is not None:
                for base in ctx.cls.node.bases:
                    base_name = base.id if isinstance(base, ast.Name) else ""
                    base_info = self.src.cls(base_name, ctx.cls.module) if base_name else None
                    found = self.method(base_info, func.attr) if base_info else None
                    if found is not None:
                        # the method runs with the subclass as `cls`
                        return found[0].module, found[1], ctx.cls
                return None
            elif isinstance(owner, ast.Name):
                info = self.src.cls(owner.id, ctx.module)
            if info is not None:
                found = self.method(info, func.attr)
                if found is not None:
                    return found[0].module, found[1], info
            else:
                self.unresolved.append(f"{ctx.module}: call {ast.unparse(func)}(parser) not followed")
        return None

    def _import_candidates(self, module: str, name: str) -> list[str]:
        out = []
        for node in self.src.tree(module).body:
            if isinstance(node, ast.ImportFrom) and node.module and any(a.name == name for a in node.names):
                base = node.module.replace(".", "/")
                out += [f"{base}.py", f"{base}/__init__.py"]
        return [m for m in out if m in self.src.files]

    def add_argument(self, call: ast.Call, ctx: _Ctx) -> None:
        names = [s for a in call.args if (s := _const_str(a)) is not None and s.startswith("-")]
        names += [n for a in call.args if isinstance(a, ast.Name) for n in ctx.loop_names.get(a.id, [])]
        if not names:
            if any(isinstance(a, ast.JoinedStr) for a in call.args):
                return  # a loop's f-string flag: for_loop counts those from the fields
            if any(isinstance(a, ast.Starred) for a in call.args) and not any(
                isinstance(a, ast.Constant) for a in call.args
            ):
                return
            if not call.args or _const_str(call.args[0]) is not None:
                return  # a positional argument (model_tag)
            self.unresolved.append(f"{ctx.module}:{call.lineno}: add_argument({ast.unparse(call.args[0])}, ...)")
            return
        self.flags.update(names)
        bool_optional = False
        explicit_action = next((k.value for k in call.keywords if k.arg == "action"), None)
        if explicit_action is not None:
            bool_optional = ast.unparse(explicit_action).endswith("BooleanOptionalAction")
        else:
            for kw in call.keywords:
                if kw.arg is not None:
                    continue
                # **model_kwargs["field"] (or **{**model_kwargs["field"], "default": None}): the config
                # field decides, as get_kwargs does
                sources = [kw.value]
                if isinstance(kw.value, ast.Dict):
                    if any(_const_str(k) == "action" for k in kw.value.keys if k is not None):
                        self.unresolved.append(f"{ctx.module}:{call.lineno}: action set in a dict literal")
                    sources = [v for k, v in zip(kw.value.keys, kw.value.values, strict=True) if k is None]
                for v in sources:
                    if isinstance(v, ast.Subscript) and isinstance(v.value, ast.Name) and v.value.id in ctx.env:
                        key = _const_str(v.slice)
                        if key is not None:
                            bool_optional = self.field_is_bool_optional(ctx.env[v.value.id], key)
        if bool_optional:
            for n in names:
                if n.startswith("--"):
                    self.bool_optional(n)


@dataclass
class _Ctx:
    module: str
    cls: ClassInfo | None
    env: dict[str, ClassInfo]
    depth: int
    dropped: dict[str, set[str]] = field(default_factory=dict)
    loop_names: dict[str, list[str]] = field(default_factory=dict)


def _callee(call: ast.Call) -> str | None:
    f = call.func
    return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None


def _const_str(node: ast.expr) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _is_parser_name(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and (node.id.endswith(("parser", "group")) or node.id == "subparsers")


def _mentions_parser(node: ast.expr) -> bool:
    return any(_is_parser_name(n) for n in ast.walk(node))


def inverse_prefixes(files: dict[str, str]) -> dict[str, str]:
    """``_inverse_prefixes`` of the BooleanOptionalAction replacement FlexibleArgumentParser registers, if any."""
    text = files.get(ARGPARSE_MODULE)
    if text is None:
        return {}
    tree = ast.parse(text, ARGPARSE_MODULE)
    # FlexibleArgumentParser.__init__: self.register("action", BooleanOptionalAction, EnableDisableAction)
    registered = {
        ast.unparse(c.args[2])
        for c in ast.walk(tree)
        if isinstance(c, ast.Call)
        and _callee(c) == "register"
        and len(c.args) == 3
        and _const_str(c.args[0]) == "action"
    }
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name in registered:
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and [ast.unparse(t) for t in stmt.targets] == ["_inverse_prefixes"]:
                    value = ast.literal_eval(stmt.value)
                    assert isinstance(value, dict)
                    return {str(k): str(v) for k, v in value.items()}
    return {}


def extract(files: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(sorted flags, modules read, what could not be followed) of ``vllm serve`` in these sources."""
    src = Source(files)
    src.index_classes()
    ex = Extractor(src, inverse_prefixes=inverse_prefixes(files))
    if ex.inverse_prefixes:
        ex.read.add(ARGPARSE_MODULE)
    # the entry point: the `serve` subcommand's subparser_init, which hands its parser to make_arg_parser
    serve = next((c for c in src.classes.get("ServeSubcommand", []) if c.module == SERVE_MODULE), None)
    found = ex.method(serve, "subparser_init") if serve is not None else None
    if found is None:
        raise SystemExit(f"{SERVE_MODULE} has no ServeSubcommand.subparser_init: the CLI layout changed")
    ex.run(SERVE_MODULE, found[1], serve, {}, 0)
    return sorted(ex.flags), sorted(ex.read), ex.unresolved


def wheel_sources(wheel: Path) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as z:
        return {
            n: z.read(n).decode("utf-8")
            for n in z.namelist()
            if n.startswith("vllm/") and n.endswith(".py") and "/third_party/" not in n
        }


def download(version: str, into: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            f"vllm=={version}",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(into),
        ],
        check=True,
    )
    wheels = sorted(into.glob(f"vllm-{version}-*.whl"))
    if not wheels:
        raise SystemExit(f"pip download vllm=={version} left no wheel in {into}")
    return wheels[0]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write(version: str, wheel: Path, out_dir: Path) -> dict[str, Any]:
    flags, modules, unresolved = extract(wheel_sources(wheel))
    for u in unresolved:
        print(f"vllm {version}: not followed: {u}", file=sys.stderr)
    data = {
        "engine": "vllm",
        "version": version,
        "wheel": wheel.name,
        "sha256": sha256(wheel),
        "source": f"https://pypi.org/project/vllm/{version}/",
        "generated_by": "tools/vllm_flags.py",
        "modules": modules,
        "flags": flags,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"vllm-{version}.json"
    path.write_text(json.dumps(data, indent=1) + "\n")
    print(f"vllm {version}: {len(flags)} flags -> {path}")
    return data


def cross_check(unpacked: Path, data_file: Path) -> int:
    """Compare a flag file with the real parser: import ``make_arg_parser`` from an unpacked wheel.

    Needs vLLM's Python dependencies (torch CPU is enough) in this interpreter; not part of generating.
    Verified this way for 0.33.0 and 0.32.0: identical sets (483 and 428 flags).
    """
    import importlib

    sys.path.insert(0, str(unpacked))
    platforms = importlib.import_module("vllm.platforms")
    # no GPU here; the parser's defaults need some platform
    platforms._current_platform = importlib.import_module("vllm.platforms.cpu").CpuPlatform()  # type: ignore[attr-defined]
    parser_cls = importlib.import_module("vllm.utils.argparse_utils").FlexibleArgumentParser
    for module in (
        "vllm.entrypoints.common.cli_args",
        "vllm.entrypoints.launchers.cli_args",
        "vllm.entrypoints.openai.cli_args",
    ):
        try:
            make = importlib.import_module(module).make_arg_parser
            break
        except (ImportError, AttributeError):
            continue
    parser = make(parser_cls())
    real = set(parser._option_string_actions) - {"-h", "--help"}
    ours = set(json.loads(data_file.read_text())["flags"])
    print(f"real parser: {len(real)} flags, {data_file.name}: {len(ours)}")
    print(f"  only in the real parser: {sorted(real - ours)}\n  only in the data: {sorted(ours - real)}")
    return 0 if real == ours else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("versions", nargs="+")
    p.add_argument("--wheel", type=Path, action="append", default=[], help="an already downloaded wheel (repeatable)")
    p.add_argument("--out", type=Path, default=OUT_DIR)
    p.add_argument(
        "--cross-check",
        type=Path,
        metavar="UNPACKED_WHEEL",
        help="instead: compare the data of the one version given with the real parser imported from this folder",
    )
    args = p.parse_args(argv)
    if args.cross_check is not None:
        return cross_check(args.cross_check, args.out / f"vllm-{args.versions[0]}.json")
    given = {w.name.split("-")[1]: w for w in args.wheel}
    with tempfile.TemporaryDirectory(prefix="vllm-wheel-") as tmp:
        for version in args.versions:
            wheel = given.get(version) or download(version, Path(tmp) / version)
            write(version, wheel, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
