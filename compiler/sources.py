"""Where spec files come from: the working tree, or a git ref for ``--base``.

A source lists files matching the project's globs and reads their bytes; the
rest of the compiler never touches the filesystem or git directly, which is
how ``plan --base REF`` compiles the specs of another commit without checking
it out.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any, Protocol

from modelplane.compiler.errors import ModelplaneError
from modelplane.compiler.timings import timed


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step; a read-only checkout just runs without caches."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError:
        pass


class Source(Protocol):
    label: str

    def exists(self, path: str) -> bool: ...

    def read(self, path: str) -> bytes: ...

    def size(self, path: str) -> int: ...

    def read_limited(self, path: str, limit: int) -> bytes | None:
        """The file's bytes, or None when it is larger than ``limit``."""
        ...

    def known_hashes(self, paths: list[str], limit: int) -> dict[str, str]:
        """Content hashes known without reading the files (from an index); may be empty."""
        ...

    def remember_hashes(self, hashes: dict[str, str]) -> None:
        """Record content hashes so a later ``known_hashes`` can skip reading."""
        ...

    def glob(self, patterns: list[str]) -> list[str]: ...


class FileSource:
    """Files under a directory on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.label = "working tree"
        self._index_path = root / ".modelplane" / "cache" / "stat-index.json"
        self._stats: dict[str, list[int]] = {}
        self._index: dict[str, list[Any]] = {}

    def known_hashes(self, paths: list[str], limit: int) -> dict[str, str]:
        """Content hashes of files whose size, mtime and inode match the stat index.

        Like git's index: a file whose stat matches what it was when hashed is
        not read again. Entries written within two seconds of a file's mtime are
        not trusted (the file could have changed within the clock's granularity).
        """
        import orjson

        try:
            self._index = orjson.loads(self._index_path.read_bytes())
        except (OSError, ValueError):
            self._index = {}
        known: dict[str, str] = {}
        for path in paths:
            try:
                st = os.stat(os.path.join(self.root, path))
            except OSError:
                continue
            stat = [st.st_size, st.st_mtime_ns, st.st_ino]
            self._stats[path] = stat
            entry = self._index.get(path)
            if entry is not None and entry[:3] == stat and st.st_size <= limit and entry[4] - st.st_mtime_ns > 2e9:
                known[path] = entry[3]
        return known

    def remember_hashes(self, hashes: dict[str, str]) -> None:
        """Record the stat and content hash of every file scanned, for the next run."""
        import time

        import orjson

        now = time.time_ns()
        fresh: dict[str, list[Any]] = {}
        for path, key in hashes.items():
            old = self._index.get(path)
            stat = self._stats.get(path)
            if stat is None:
                continue
            if old is not None and old[:4] == [*stat, key] and old[4] - stat[1] > 2e9:
                fresh[path] = old
            else:
                fresh[path] = [*stat, key, now]
        if fresh == self._index:
            return
        atomic_write(self._index_path, orjson.dumps(fresh))

    def exists(self, path: str) -> bool:
        return (self.root / path).is_file()

    def read(self, path: str) -> bytes:
        return (self.root / path).read_bytes()

    def size(self, path: str) -> int:
        return os.stat(os.path.join(self.root, path)).st_size

    def read_limited(self, path: str, limit: int) -> bytes | None:
        with open(os.path.join(self.root, path), "rb") as f:
            if os.fstat(f.fileno()).st_size > limit:
                return None
            return f.read()

    def glob(self, patterns: list[str]) -> list[str]:
        """Relative paths of files matching any pattern (one scandir walk; no per-file stat)."""
        regexes = [_glob_regex(p) for p in patterns]
        found: list[str] = []

        def walk(directory: str, prefix: str) -> None:
            with os.scandir(directory) as entries:
                for entry in entries:
                    rel = prefix + entry.name
                    if entry.is_dir():
                        # hidden folders (.git, .modelplane, .venv) never hold specs
                        if not entry.name.startswith("."):
                            walk(entry.path, rel + "/")
                    elif entry.is_file() and any(r.match(rel) for r in regexes):
                        found.append(rel)

        walk(str(self.root), "")
        return sorted(found)


class _Git:
    """One git command started now and read later: the listings a ``--base`` compile needs run on
    another core while the head compiles. Output goes to a temporary file, not a pipe, so git
    never blocks on a full pipe while nobody reads it."""

    def __init__(self, repo_root: Path, args: tuple[str, ...]) -> None:
        import tempfile

        self.args = args
        # kept open until result() reads them (closed there)
        self._out = tempfile.TemporaryFile()  # noqa: SIM115
        self._err = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(["git", *args], cwd=repo_root, stdout=self._out, stderr=self._err)

    def close(self) -> None:
        """Stop the command if nobody read it (a compile that failed first); idempotent."""
        if not self._out.closed:
            self._proc.kill()
            self._proc.wait()
            self._out.close()
            self._err.close()

    def result(self) -> str:
        code = self._proc.wait()
        self._out.seek(0)
        self._err.seek(0)
        out, err = self._out.read(), self._err.read()
        self._out.close()
        self._err.close()
        if code != 0:
            raise ModelplaneError(f"git {' '.join(self.args)} failed: {err.decode(errors='replace').strip()}")
        return out.decode("utf-8", errors="surrogateescape")


class GitSource:
    """Files of a git ref, read from git objects (the working tree is not touched).

    ``prefix`` is the project's directory relative to the repository root, so a
    project that lives in a sub-folder of its repository works too.
    """

    def __init__(
        self, repo_root: Path, ref: str, prefix: str, cache_dir: Path | None = None, commit: str | None = None
    ) -> None:
        self.repo_root = repo_root
        self._blob_map_path = cache_dir / "git-blobs.json" if cache_dir is not None else None
        self._blob_map: dict[str, str] = {}
        self.ref = ref
        self.prefix = prefix.strip("/")
        self.label = f"git ref {ref}"
        self.commit = commit or self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").strip()
        self._listing = _Git(repo_root, ("ls-tree", "-r", "-z", "--long", "--full-tree", self.commit))
        scope = [f"{self.prefix}/"] if self.prefix else []
        self._staged = _Git(repo_root, ("ls-files", "-s", "-z", "--full-name", *scope))
        self._modified = _Git(repo_root, ("diff-files", "--name-only", "-z"))
        self._blob_index: dict[str, tuple[str, int]] | None = None
        self._contents: dict[str, bytes] | None = None
        self._borrowed: dict[str, str] = {}

    def close(self) -> None:
        """Stop background listings nobody read (the working-tree compile failed before them)."""
        for job in (self._listing, self._staged, self._modified):
            job.close()

    @property
    def _blobs(self) -> dict[str, tuple[str, int]]:
        """Path -> (blob id, size) of every file at the ref under the project's folder."""
        if self._blob_index is None:
            blobs: dict[str, tuple[str, int]] = {}
            for entry in self._listing.result().split("\0"):
                if not entry:
                    continue
                meta, _, path = entry.partition("\t")
                _mode, kind, sha, size = meta.split()
                if kind != "blob":
                    continue
                if self.prefix:
                    if not path.startswith(self.prefix + "/"):
                        continue
                    path = path[len(self.prefix) + 1 :]
                blobs[path] = (sha, int(size) if size != "-" else 0)
            self._blob_index = blobs
        return self._blob_index

    @timed("git")
    def borrow(self, worktree_hashes: dict[str, str]) -> None:
        """Reuse content hashes of working-tree files whose blob is the same as at the ref.

        ``git ls-files -s`` gives each tracked file's blob id from the index and
        ``git diff-files`` names the ones modified since, both without reading
        file contents; an unmodified file with the same blob id as the ref has
        the same bytes, so its hash is already known.
        """
        prefix = f"{self.prefix}/" if self.prefix else ""
        staged = self._staged.result()
        modified = set(self._modified.result().split("\0"))
        blobs = self._blobs
        for entry in staged.split("\0"):
            if not entry:
                continue
            meta, _, full = entry.partition("\t")
            sha = meta.split()[1]
            path = full[len(prefix) :] if prefix and full.startswith(prefix) else full
            if full in modified or path not in worktree_hashes:
                continue
            blob = blobs.get(path)
            if blob is not None and blob[0] == sha:
                self._borrowed[path] = worktree_hashes[path]

    @classmethod
    @timed("git")
    def for_project(cls, project_root: Path, ref: str) -> GitSource:
        """The ref's files for the project at ``project_root``; its listings start in the background."""
        try:
            proc = subprocess.run(
                ["git", "rev-parse", "--show-toplevel", "--verify", "--quiet", f"{ref}^{{commit}}"],
                cwd=project_root,
                capture_output=True,
                text=True,
            )
        except FileNotFoundError as exc:
            raise ModelplaneError("`--base` needs git, which is not installed", hint="install git") from exc
        lines = proc.stdout.split()
        if proc.returncode != 0 or len(lines) != 2:
            top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=project_root, capture_output=True)
            if top.returncode != 0:
                raise ModelplaneError(
                    f"`--base {ref}`: {project_root} is not inside a git repository",
                    hint="run from a git checkout, or plan against the applied state without --base",
                )
            raise _no_such_ref(ref, Path(top.stdout.decode().strip()))
        repo = Path(lines[0])
        prefix = os.path.relpath(project_root.resolve(), repo.resolve())
        return cls(repo, ref, "" if prefix == "." else prefix, project_root / ".modelplane" / "cache", lines[1])

    def _git(self, *args: str, input: bytes | None = None) -> str:
        proc = subprocess.run(["git", *args], cwd=self.repo_root, capture_output=True, input=input)
        if proc.returncode != 0:
            if args[0] == "rev-parse":
                raise _no_such_ref(self.ref, self.repo_root)
            raise ModelplaneError(f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout.decode("utf-8", errors="surrogateescape")

    def prefetch(self, paths: list[str]) -> None:
        """Read these blobs in one `git cat-file --batch` call."""
        self._load(paths)

    def _load(self, wanted: list[str]) -> dict[str, bytes]:
        have = self._contents or {}
        missing = [p for p in wanted if p not in have]
        if missing:
            paths = missing
            request = "".join(f"{self._blobs[p][0]}\n" for p in paths).encode()
            proc = subprocess.run(
                ["git", "cat-file", "--batch"], cwd=self.repo_root, input=request, capture_output=True, check=True
            )
            out = proc.stdout
            pos = 0
            contents: dict[str, bytes] = {}
            for p in paths:
                header_end = out.index(b"\n", pos)
                size = int(out[pos:header_end].split()[2])
                start = header_end + 1
                contents[p] = out[start : start + size]
                pos = start + size + 1
            self._contents = {**have, **contents}
        return self._contents or {}

    def exists(self, path: str) -> bool:
        return path in self._blobs

    def read(self, path: str) -> bytes:
        if self._contents is None or path not in self._contents:
            self._load([path])
        assert self._contents is not None
        return self._contents[path]

    def size(self, path: str) -> int:
        return self._blobs[path][1]

    def read_limited(self, path: str, limit: int) -> bytes | None:
        return None if self.size(path) > limit else self.read(path)

    def known_hashes(self, paths: list[str], limit: int) -> dict[str, str]:
        """Git blob ids are content addresses: a blob hashed once never needs reading again."""
        wanted = set(paths)
        known = {p: h for p, h in self._borrowed.items() if p in wanted and self._blobs[p][1] <= limit}
        if self._blob_map_path is None:
            return known
        import orjson

        try:
            self._blob_map = orjson.loads(self._blob_map_path.read_bytes())
        except (OSError, ValueError):
            self._blob_map = {}
        for path in paths:
            sha, size = self._blobs[path]
            if size <= limit and sha in self._blob_map:
                known[path] = self._blob_map[sha]
        return known

    def remember_hashes(self, hashes: dict[str, str]) -> None:
        if self._blob_map_path is None:
            return
        import orjson

        fresh = {self._blobs[p][0]: h for p, h in hashes.items() if p in self._blobs}
        if all(self._blob_map.get(k) == v for k, v in fresh.items()):
            return
        atomic_write(self._blob_map_path, orjson.dumps({**self._blob_map, **fresh}))

    def glob(self, patterns: list[str]) -> list[str]:
        found: set[str] = set()
        for pattern in patterns:
            regex = _glob_regex(pattern)
            found.update(p for p in self._blobs if regex.match(p))
        return sorted(found)


def _no_such_ref(ref: str, repo: Path) -> ModelplaneError:
    return ModelplaneError(
        f"`--base {ref}`: no such commit, branch or tag in {repo}",
        hint="check the name with `git log --oneline`; in CI, fetch the base branch first "
        "(e.g. actions/checkout with fetch-depth: 0)",
    )


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching paths like ``glob.glob(recursive=True)`` does (``**`` spans folders)."""
    out = []
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(".*" if last else "(?:[^/]+/)*")
            continue
        seg = "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in part)
        out.append(seg if last else seg + "/")
    return re.compile("^" + "".join(out) + "$")
