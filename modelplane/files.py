"""The state folder's file primitives: private folders and files, atomic replacement, a cross-process lock.

Every part of modelplane that writes under ``.modelplane/`` (caches, plans, the state store, logs,
the embedded server) goes through these, so the folder stays 0700 and its files 0600.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

PROJECT_FILE = "modelplane.yaml"
"""The file that marks a project's root (its model is ``specs.project.Project``)."""
STATE_FOLDER = ".modelplane"
"""Each project's own folder: caches, plans, state, logs, the embedded server. Created 0700, its files 0600:
they hold documents, outputs and logs that may carry what the specs carry."""
PRIVATE_UMASK = 0o077
"""The umask of the processes modelplane starts to keep things in the state folder (server, worker, stack)."""
_PRIVATE_DONE: set[Path] = set()


def private_dir(path: Path) -> Path:
    """``path`` created (parents too); the state folder above it, or ``path`` itself, kept 0700."""
    path.mkdir(parents=True, exist_ok=True)
    parts = path.parts
    if STATE_FOLDER in parts:
        top = Path(*parts[: parts.index(STATE_FOLDER) + 1])
        if top not in _PRIVATE_DONE:
            try:
                os.chmod(top, 0o700)  # also narrows one an earlier version created 0755
            except OSError:
                # a read-only folder (a read-only mount, another user's checkout) that is private already is
                # fine to read from; one that is not stays a failure (what writes there says what failed)
                if os.stat(top).st_mode & 0o077:
                    raise
            _PRIVATE_DONE.add(top)
    return path


def private_opener(path: str, flags: int) -> int:
    """``open(path, mode, opener=private_opener)``: a file created 0600 (an existing one narrowed to it)."""
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def atomic_write(path: Path, data: bytes | bytearray | memoryview | Sequence[bytes]) -> None:
    """Replace ``path`` with ``data`` (bytes, or parts written one after another) in one step, the file 0600; a
    read-only checkout just runs without caches."""
    try:
        private_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb", opener=private_opener) as f:
            if isinstance(data, bytes | bytearray | memoryview):
                f.write(data)
            else:
                _write_parts(f.fileno(), data)  # nothing is buffered in f: it writes nothing else
        os.replace(tmp, path)
    except OSError:
        pass


_IOV_MAX = 1024
"""Buffers one ``writev`` takes (Linux's IOV_MAX)."""


def _write_parts(fd: int, parts: Sequence[bytes]) -> None:
    """``parts`` written in order with ``writev``, straight from where they are: the caches write ~10,000
    documents' JSON, and joining them into one buffer first copied 6 MB through fresh memory (~5 ms a cache)."""
    for at in range(0, len(parts), _IOV_MAX):
        chunk = parts[at : at + _IOV_MAX]
        written = os.writev(fd, chunk)
        if written < sum(map(len, chunk)):  # a short write (rare for a file): the rest of this chunk in a loop
            rest = memoryview(b"".join(chunk))[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Serialize starting things across processes (two `apply`s must not start two servers)."""
    private_dir(path.parent)
    with open(path, "a", opener=private_opener) as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
