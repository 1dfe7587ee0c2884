"""Parse and validate a share of a cold compile's files in a forked child, on a second core.

Parsing and validating every file is most of a cold compile (about 0.45 s of a 10,000-node
``plan --base``) and each file is independent, so a child forked after the models are
built takes a share of the files while the parent does the rest. The child sends back, per
file whose documents all validated cleanly, only what the caches keep anyway: each
document's normalized JSON, its own hashes and the references its model makes (``marshal``:
bytes and tuples, no pickling of models). The parent makes nodes of them whose document is
that JSON (parsed on first read), whose references need no parsing, and whose model is built
on first use: so the parent keeps the files holding documents whose model later stages read (endpoints), and
the child's share is of the others first (``split``). A file with any problem is left to the
parent, which parses it again itself, so every diagnostic comes from one code path. If
the child fails in any way the parent parses its share too: a fork is only ever a speed-up.

Forking is skipped where it is not safe or not worth it: fewer files than ``MIN_FILES``, fewer
usable cores than ``MIN_CORES``, no ``os.fork``, another thread running (a forked child would inherit its locks
held), every core already busy (the 1-minute load average at or above the core count, or as many tasks
runnable this instant as cores: the child would only compete with the parent, and copying the parent's pages
costs CPU), or ``MODELPLANE_PARSE_FORK=0``. ``MODELPLANE_PARSE_FORK=1`` forks whatever the load.
"""

from __future__ import annotations

import marshal
import os
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIN_FILES = 400
"""Below this the fork (a few ms with a large heap) and the transfer outweigh the work shared."""

MIN_CORES = 3
"""Usable cores for a fork unless asked for: the parent's, the child's, and one for the rest (the `git` a plan
reads its base with, the system). Measured on two (vCPUs of a VM), a cold 10,000-node ``plan --base`` forked was
3-8% faster in wall time but used up to 10% more CPU (0.5-10% in four sittings), children included, than the same
build not forking: the two processes slowed each other, and the child's page copies and its documents sent back
as JSON cost on top. Without the fork that plan is at 59e4338's CPU and wall time there (#34);
``MODELPLANE_PARSE_FORK=1`` still forks."""

CHILD_SHARE = 0.46
"""The child's share of the work: a little under half, as its first write to each page of the parent's heap
copies it. With the models built before the fork (``loader._registered_kinds``), on a 10,000-node project, half
of the files took the child 0.21 s and the parent 0.19 s."""

FILE_COST = 500
"""What a file costs beyond its bytes, in bytes: decoding, parsing and validating a file of 300 bytes costs about
as much as one of 800 that holds the same number of documents. Measured on the 10,000-node generator project
(4,163 one-document files and 1,040 with endpoints, 208 of them of 24 documents): with bytes alone the child got
80% of the files and the parent waited 60-120 ms for it; with 500 a file, 12-15 ms, its sending time."""

Clean = tuple[list[tuple[int, bytes, tuple[str, str], tuple[Any, ...]]], list[str]]
"""A cleanly validated file: (index, normalized JSON, own hashes, references as ``specs.refs.refs_as_plain``
gives them) per document, and the environment overrides it used."""


@dataclass
class Share:
    """The child's share of the files, and how to collect what it made of them."""

    pid: int
    read_fd: int
    paths: list[str]

    def collect(self) -> tuple[dict[str, Clean], list[str]]:
        """(clean results by path, paths the parent must parse itself); waits for the child."""
        chunks: list[bytes] = []
        try:
            while chunk := os.read(self.read_fd, 1 << 20):
                chunks.append(chunk)
        finally:
            os.close(self.read_fd)
        _, status = os.waitpid(self.pid, 0)
        got: dict[str, Clean] = {}
        if os.waitstatus_to_exitcode(status) == 0:
            try:
                loaded = marshal.loads(b"".join(chunks))
                got = {path: (docs, overrides) for path, docs, overrides in loaded}
            except (EOFError, ValueError, TypeError):
                got = {}
        return got, [p for p in self.paths if p not in got]


def usable() -> bool:
    """Whether a fork may share the work here and now."""
    setting = os.environ.get("MODELPLANE_PARSE_FORK", "")
    if setting == "0" or not hasattr(os, "fork"):
        return False
    if threading.active_count() > 1:
        return False
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    if cores <= 1:
        return False
    if setting == "1":
        return True
    if cores < MIN_CORES:
        return False
    try:
        busy = os.getloadavg()[0]
    except OSError:  # no load average here: assume a core to spare
        busy = 0.0
    # no core to spare: measured on 2 busy cores, the fork was no faster and cost 6% more CPU
    return busy < cores and _running_now() - _own_children_running() < cores


def _running_now() -> int:
    """How many tasks are runnable this instant, this process included (``/proc/loadavg``'s fourth field), or 1
    where that cannot be read. The 1-minute average lags a minute behind a process that just started on the
    other core: with one running there, the fork was no faster (1.49 s against 1.51 s) and cost CPU."""
    try:
        with open("/proc/loadavg", "rb") as f:
            return int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 1


def _own_children_running() -> int:
    """How many of this process's own children are runnable this instant (``/proc/self/task/*/children``), 0 where
    that cannot be read. A `git` the command started (reading the base's objects) is its own work and ends within
    milliseconds: counted as another core's load, it stopped the fork in half of the cold plans on an idle
    machine, each then ~0.1 s slower."""
    running = 0
    try:
        pids = b" ".join(p.read_bytes() for p in Path("/proc/self/task").glob("*/children")).split()
    except OSError:
        return 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{int(pid)}/stat").read_bytes()
        except (OSError, ValueError):
            continue  # it has ended since
        if stat[stat.rfind(b")") + 2 : stat.rfind(b")") + 3] == b"R":  # the state follows the name in parentheses
            running += 1
    return running


def start(
    paths: list[str],
    work: Callable[[list[str]], dict[str, Clean | None]],
    weigh: Callable[[str], tuple[int, bool]] | None = None,
) -> tuple[list[str], Share | None]:
    """Fork a child that runs ``work`` on a share of the paths; (the parent's paths, the child's share).

    ``work`` maps each path to its clean result, or None for a file the parent must parse. ``weigh`` gives a
    file's work in bytes' worth (its bytes, or more: ``loader._weight``) and whether the parent had better parse
    it itself (``split``); it is asked only where a fork happens.
    """
    if len(paths) < MIN_FILES or not usable():
        return paths, None
    sizes: dict[str, int] = {}
    home: set[str] = set()
    if weigh is not None:
        for p in paths:
            sizes[p], stay = weigh(p)
            if stay:
                home.add(p)
    mine, theirs = split(paths, sizes, home)
    if not theirs:
        return paths, None
    read_fd, write_fd = os.pipe()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_fd)
        os.close(write_fd)
        return paths, None
    if pid == 0:  # the child: never returns, never runs the parent's exit handlers
        code = 1
        try:
            os.close(read_fd)
            results = work(theirs)
            payload = marshal.dumps(
                [(path, docs, overrides) for path, r in results.items() if r is not None for docs, overrides in [r]]
            )
            view = memoryview(payload)
            while view:
                view = view[os.write(write_fd, view) :]
            code = 0
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return mine, Share(pid, read_fd, theirs)


def split(paths: list[str], sizes: Mapping[str, int], home: Collection[str] = ()) -> tuple[list[str], list[str]]:
    """(the parent's files, the child's), each in the order given: the child's are ``CHILD_SHARE`` of the work
    (a file's weight in ``sizes``, bytes' worth as ``weigh`` gives it, none where missing, plus ``FILE_COST``), spread evenly through the list (files
    of one folder are alike), taken from the files not in ``home`` first.

    The child sends back each document's JSON, not its typed model, and a later stage that reads the model
    validates it again in the parent: a file in ``home`` (one holding documents read that way) goes to the child
    only where the other files are too few to make its share.
    """
    size = {p: sizes.get(p, 0) + FILE_COST for p in paths}
    target = CHILD_SHARE * sum(size.values())
    away = [p for p in paths if p not in home]
    away_bytes = sum(size[p] for p in away)
    if away_bytes > target:
        taken = _spread(away, size, target / away_bytes)
    else:
        rest = [p for p in paths if p in home]
        taken = set(away) | _spread(rest, size, (target - away_bytes) / max(1, sum(size[p] for p in rest)))
    return [p for p in paths if p not in taken], [p for p in paths if p in taken]


def _spread(files: list[str], size: Mapping[str, int], fraction: float) -> set[str]:
    """About ``fraction`` of the weight of ``files``, evenly through them: a file is taken once the bytes owed
    reach half of it, and counted off what is owed (the share ends within a file of the fraction)."""
    taken: set[str] = set()
    owed = 0.0
    for p in files:
        owed += fraction * size[p]
        if owed >= size[p] / 2:
            taken.add(p)
            owed -= size[p]
    return taken
