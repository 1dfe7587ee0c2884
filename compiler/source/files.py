"""Where spec files come from: the working tree, or a git ref for ``--base``.

A source lists files matching the project's globs and reads their bytes; the
rest of the compiler never touches the filesystem or git directly, which is
how ``plan --base REF`` compiles the specs of another commit without checking
it out.
"""

from __future__ import annotations

import errno
import os
import posixpath
import re
import stat as stat_mode
import subprocess
import sys
from pathlib import Path
from typing import Any, Protocol

from modelplane.compiler.timings import timed
from modelplane.errors import Diagnostic, Location, ModelplaneError, SpecError
from modelplane.files import atomic_write

MAX_FOLDER_DEPTH = 64
"""Folders nested deeper than this under a glob's prefix are reported, not walked: nothing
real is that deep, and a hostile tree (1,000 levels) must not exhaust the stack or PATH_MAX."""
_MAX_LINK_HOPS = 40  # as the kernel's own limit on symlink chains (ELOOP)


def setting_path(root: Path, path: str) -> Path:
    """A path a setting names: ``~`` expanded, a relative one from the project root."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else root / p


def read_named_file(root: Path, path: str, label: str, named_by: str, hint: str) -> bytes:
    """The file a setting names (``setting_path``), or an error naming the setting."""
    p = setting_path(root, path)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ModelplaneError(f"cannot read {label} {p} (named by {named_by}): {exc.strerror}", hint=hint) from None


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

    def glob(self, patterns: list[str], problems: list[Diagnostic]) -> list[str]:
        """Paths of spec files matching any pattern; what cannot be read safely goes to ``problems``."""
        ...


def display_path(path: str) -> str:
    """``path`` as printable text: a non-UTF-8 file name shows its bytes as ``\\xff`` escapes."""
    return os.fsencode(path).decode("utf-8", errors="backslashreplace")


def _utf8(name: str) -> bool:
    if name.isascii():
        return True
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def path_problem(path: str, code: str, message: str, hint: str) -> Diagnostic:
    return Diagnostic(code=code, message=message, location=Location(display_path(path)), hint=hint)


def _outside(path: str, target: str) -> Diagnostic:
    # names the link and what it says, never the content: a link to ~/.aws/credentials must not
    # have the secret printed in an error (or posted to a pull request by CI)
    return path_problem(
        path,
        "symlink-outside-project",
        f"symlink points outside the project root (to {display_path(target)}); it is not read",
        "spec files must live inside the project: copy the file in, or remove the link",
    )


# (code, message, hint) of the problems whose wording does not depend on the path
_LINK_LOOP = (
    "symlink-loop",
    "symlink loop: following this link never reaches a file",
    "point the link at a real file, or remove it",
)
_FOLDER_LINK = (
    "symlinked-folder",
    "symlink to a folder: folder links are not followed (git stores them as links, so `--base` would see no files)",
    "move the specs into the folder itself, or add the real folder to `specs:` in modelplane.yaml",
)
_SPECIAL = (
    "not-a-regular-file",
    "not a regular file (a fifo, socket or device); it is not read",
    "spec paths must be plain files: remove it or rename it so the `specs:` globs do not match it",
)


def _link_loop(path: str) -> Diagnostic:
    return path_problem(path, *_LINK_LOOP)


def _folder_link(path: str) -> Diagnostic:
    return path_problem(path, *_FOLDER_LINK)


def _special(path: str) -> Diagnostic:
    return path_problem(path, *_SPECIAL)


def unreadable(path: str, exc: OSError) -> Diagnostic:
    hint = "check the file's permissions (it must be readable by you), or remove it"
    return path_problem(path, "unreadable-file", f"cannot read: {exc.strerror or exc}", hint)


class _Pattern:
    """One `specs:` glob: a regex for whole paths and, per folder level, a test for whether a
    folder can hold a match, so the walk starts at the glob's static prefix and descends only
    where the glob can still match."""

    def __init__(self, pattern: str) -> None:
        self.regex = _glob_regex(pattern)
        self.parts = pattern.split("/")
        static: list[str] = []
        for part in self.parts[:-1]:
            if "*" in part or "?" in part:
                break
            static.append(part)
        self.prefix = "/".join(static)
        self._segments = [_glob_regex(p) if p != "**" else None for p in self.parts]

    def could_contain(self, folder: str) -> bool:
        """Whether files under ``folder`` (relative, no trailing slash) can match."""
        for i, name in enumerate(folder.split("/")):
            if i < len(self.parts) and self.parts[i] == "**":
                return True
            if i >= len(self.parts) - 1:
                return False
            segment = self._segments[i]
            if segment is not None and not segment.match(name):
                return False
        return True


class FileSource:
    """Files under a directory on disk."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = os.path.realpath(root)
        self._real_dirs: dict[str, str] = {}
        """Resolved folders: a file's own link is caught by O_NOFOLLOW, so one realpath per folder, not per file."""
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
        if not self._index:
            return known  # every file is read: its stat is taken from the open descriptor then
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

    def _inside(self, real: str) -> bool:
        return real == self._real_root or real.startswith(self._real_root.rstrip(os.sep) + os.sep)

    def _open(self, path: str) -> int:
        """A descriptor for ``path``, refused (SpecError) where reading it is unsafe: a link that
        leaves the project root is never opened, a fifo never blocks (O_NONBLOCK), a device or
        /proc file is never read."""
        full = os.path.join(self.root, path)
        fd = self._open_plain(full)
        if fd is not None:
            return fd
        try:
            real = os.path.realpath(full, strict=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SpecError(_link_loop(path)) from None
            raise
        if not self._inside(real):
            raise SpecError(_outside(path, os.readlink(full) if os.path.islink(full) else real))
        fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise SpecError(_special(path))
        return fd

    def _open_plain(self, full: str) -> int | None:
        """The fast path: a regular file that is not itself a link, in a folder inside the root (else None)."""
        parent = os.path.dirname(full)
        real_parent = self._real_dirs.get(parent)
        if real_parent is None:
            try:
                real_parent = self._real_dirs[parent] = os.path.realpath(parent, strict=True)
            except OSError:
                return None  # the slow path says what is wrong
        if not self._inside(real_parent):
            return None
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
        except OSError:
            return None  # a link (ELOOP) or unreadable: the slow path checks and explains
        if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd

    def read(self, path: str) -> bytes:
        data = self.read_limited(path, sys.maxsize - 1)
        assert data is not None
        return data

    def size(self, path: str) -> int:
        return os.stat(os.path.join(self.root, path)).st_size

    def read_limited(self, path: str, limit: int) -> bytes | None:
        fd = self._open(path)
        try:
            st = os.fstat(fd)
            self._stats[path] = [st.st_size, st.st_mtime_ns, st.st_ino]
            return _read_fd(fd, st.st_size, limit)
        finally:
            os.close(fd)

    def glob(self, patterns: list[str], problems: list[Diagnostic]) -> list[str]:
        """Relative paths of files matching any pattern.

        One scandir walk per static prefix of the globs (``specs/**/*.yaml`` walks
        ``specs/`` only), descending only into folders the globs can still match,
        iteratively (no recursion limit). Nothing is read here; links are resolved
        without following them out of the project, and whatever cannot be used
        safely (links outside, loops, folder links, fifos and devices, non-UTF-8
        names, folders too deep or unreadable) becomes a problem naming the path.
        """
        pats = [_Pattern(p) for p in patterns]
        prefixes = sorted({p.prefix for p in pats})
        # a prefix inside another one is walked as part of it
        starts = [a for a in prefixes if not any(b != a and (not b or a.startswith(b + "/")) for b in prefixes)]
        found: list[str] = []
        stack: list[str] = []
        for start in starts:
            if not start:
                stack.append("")
                continue
            full = os.path.join(self.root, start)
            if os.path.islink(full):
                self._link(start, pats, problems, found, folder=True)
            elif os.path.isdir(full):
                stack.append(start)
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(os.path.join(self.root, folder) if folder else self.root) as it:
                    entries = list(it)
            except OSError as exc:
                problems.append(
                    path_problem(
                        folder,
                        "unreadable-folder",
                        f"cannot list this folder: {exc.strerror or exc}",
                        "check its permissions, or narrow the `specs:` globs in modelplane.yaml so they skip it",
                    )
                )
                continue
            depth = folder.count("/") + 1 if folder else 0
            for entry in entries:
                rel = f"{folder}/{entry.name}" if folder else entry.name
                try:
                    if entry.is_symlink():
                        self._link(rel, pats, problems, found, folder=False)
                    elif entry.is_dir(follow_symlinks=False):
                        # hidden folders (.git, .modelplane, .venv) never hold specs
                        if entry.name.startswith(".") or not any(p.could_contain(rel) for p in pats):
                            continue
                        if not _utf8(entry.name):
                            problems.append(_bad_name(rel, "folder"))
                        elif depth + 1 > MAX_FOLDER_DEPTH:
                            problems.append(_too_deep(rel))
                        else:
                            stack.append(rel)
                    elif any(p.regex.match(rel) for p in pats):
                        if not entry.is_file(follow_symlinks=False):
                            problems.append(_special(rel))
                        elif not _utf8(entry.name):
                            problems.append(_bad_name(rel, "file"))
                        else:
                            found.append(rel)
                except OSError as exc:  # the entry vanished or cannot be stat'ed mid-walk
                    problems.append(unreadable(rel, exc))
        return sorted(found)

    def _link(self, rel: str, pats: list[_Pattern], problems: list[Diagnostic], found: list[str], folder: bool) -> None:
        """A symlink met by the walk: used only when it is a file inside the project."""
        full = os.path.join(self.root, rel)
        matches = not folder and any(p.regex.match(rel) for p in pats)
        try:
            real = os.path.realpath(full, strict=True)
        except OSError as exc:
            could = folder or any(p.could_contain(rel) for p in pats)
            if exc.errno == errno.ELOOP and (matches or could):
                problems.append(_link_loop(rel))
            elif matches:
                problems.append(
                    path_problem(
                        rel,
                        "broken-symlink",
                        f"symlink to {display_path(os.readlink(full))}, which does not exist",
                        "point the link at an existing file, or remove it",
                    )
                )
            return
        st = os.stat(real)
        is_folder = stat_mode.S_ISDIR(st.st_mode)
        if is_folder:
            if not folder and not any(p.could_contain(rel) for p in pats):
                return
        elif not matches:
            return  # a link no glob matches is never looked at
        if not self._inside(real):
            problems.append(_outside(rel, os.readlink(full)))
        elif is_folder:
            problems.append(_folder_link(rel))
        elif not stat_mode.S_ISREG(st.st_mode):
            problems.append(_special(rel))
        elif not _utf8(rel):
            problems.append(_bad_name(rel, "file"))
        else:
            found.append(rel)


def _read_fd(fd: int, size: int, limit: int) -> bytes | None:
    """A regular file's bytes, or None past ``limit``: reads of its stat ``size`` (plus one byte, so
    a file that grows or lies about its size still stops at the limit) with os.read. A buffered
    ``read(limit + 1)`` allocated the whole limit for every file: a third of a cold scan."""
    if size > limit:
        return None
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = os.read(fd, size + 1 - total if total <= size else 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if total > limit:
            return None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _bad_name(path: str, what: str) -> Diagnostic:
    return path_problem(
        path,
        "non-utf8-name",
        f"{what} name is not valid UTF-8; it is not read",
        f"rename the {what} using UTF-8 characters (e.g. `mv` it to a plain ASCII name)",
    )


def _too_deep(path: str) -> Diagnostic:
    return path_problem(
        path,
        "folder-too-deep",
        f"folders nest more than {MAX_FOLDER_DEPTH} levels deep here; nothing below is scanned",
        "flatten the folder tree, or narrow the `specs:` globs in modelplane.yaml so they skip it",
    )


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
        self._links: dict[str, str] = {}
        """Symlinks at the ref: path -> blob id of the link text."""
        self._resolved: dict[str, str] = {}
        """Symlinks that name a file inside the project: path -> that file's path."""

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
                mode, kind, sha, size = meta.split()
                if kind != "blob":
                    continue
                if self.prefix:
                    if not path.startswith(self.prefix + "/"):
                        continue
                    path = path[len(self.prefix) + 1 :]
                if mode == "120000":
                    # a symlink: its blob is the link's text, never the content of what it names
                    self._links[path] = sha
                    continue
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
        self._load([self._target(p) for p in paths])

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
        return path in self._blobs or path in self._links

    def _follow(self, path: str) -> str | Diagnostic:
        """The in-project file a symlink at the ref names, or why it cannot be used.

        The same rules as the working tree: a link that leaves the project root is
        an error naming the link (its target is never read), loops and links to
        folders or missing files are errors too.
        """
        seen = {path}
        current = path
        for _ in range(_MAX_LINK_HOPS):
            target = self._git("cat-file", "blob", self._links[current])
            if target.startswith("/"):
                return _outside(path, target)
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(current), target))
            if resolved == ".." or resolved.startswith("../"):
                return _outside(path, target)
            if resolved in self._blobs:
                return resolved
            if resolved not in self._links:
                folder = any(p.startswith(resolved + "/") for p in (*self._blobs, *self._links))
                if folder:
                    return _folder_link(path)
                return path_problem(
                    path,
                    "broken-symlink",
                    f"symlink to {display_path(target)}, which does not exist at {self.ref}",
                    "point the link at an existing file, or remove it",
                )
            if resolved in seen:
                return _link_loop(path)
            seen.add(resolved)
            current = resolved
        return _link_loop(path)

    def _target(self, path: str) -> str:
        """``path``, or the file it names where it is a symlink (SpecError where it may not be read)."""
        if path in self._blobs:
            return path
        if path not in self._resolved and path in self._links:
            found = self._follow(path)
            if isinstance(found, Diagnostic):
                raise SpecError(found)
            self._resolved[path] = found
        return self._resolved.get(path, path)

    def read(self, path: str) -> bytes:
        path = self._target(path)
        if self._contents is None or path not in self._contents:
            self._load([path])
        assert self._contents is not None
        return self._contents[path]

    def size(self, path: str) -> int:
        return self._blobs[self._target(path)][1]

    def read_limited(self, path: str, limit: int) -> bytes | None:
        return None if self.size(path) > limit else self.read(path)

    def known_hashes(self, paths: list[str], limit: int) -> dict[str, str]:
        """Git blob ids are content addresses: a blob hashed once never needs reading again."""
        wanted = set(paths)
        known = {p: h for p, h in self._borrowed.items() if p in wanted and self.size(p) <= limit}
        if self._blob_map_path is None:
            return known
        import orjson

        try:
            self._blob_map = orjson.loads(self._blob_map_path.read_bytes())
        except (OSError, ValueError):
            self._blob_map = {}
        for path in paths:
            sha, size = self._blobs[self._target(path)]
            if size <= limit and sha in self._blob_map:
                known[path] = self._blob_map[sha]
        return known

    def remember_hashes(self, hashes: dict[str, str]) -> None:
        if self._blob_map_path is None:
            return
        import orjson

        fresh = {self._blobs[t][0]: h for t, h in ((self._target(p), h) for p, h in hashes.items()) if t in self._blobs}
        if all(self._blob_map.get(k) == v for k, v in fresh.items()):
            return
        atomic_write(self._blob_map_path, orjson.dumps({**self._blob_map, **fresh}))

    def glob(self, patterns: list[str], problems: list[Diagnostic]) -> list[str]:
        found: set[str] = set()
        blobs = self._blobs  # lists the ref (and its symlinks)
        for pattern in patterns:
            regex = _glob_regex(pattern)
            found.update(p for p in (*blobs, *self._links) if regex.match(p))
        usable: list[str] = []
        for path in sorted(found):
            if not _utf8(path):
                problems.append(_bad_name(path, "file"))
                continue
            if path in self._links:
                target = self._follow(path)
                if isinstance(target, Diagnostic):
                    problems.append(target)
                    continue
                self._resolved[path] = target
            usable.append(path)
        return usable


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
