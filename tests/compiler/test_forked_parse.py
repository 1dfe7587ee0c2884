"""A cold compile parses a share of its files in a forked child: the same nodes, the same
diagnostics, and the parent does the work itself whenever the child cannot."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from modelplane.compiler.compile import check_specs
from modelplane.compiler.incremental import spec_cache
from modelplane.compiler.load import forked
from modelplane.compiler.load.references import node_refs
from modelplane.errors import SpecError
from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import gen_specs

needs_fork = pytest.mark.skipif(
    not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2, reason="a forked share needs fork and two cores"
)


def _compiled(root: Path, fork: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, tuple[Any, ...]]:
    monkeypatch.setenv("MODELPLANE_PARSE_FORK", "1" if fork else "0")
    monkeypatch.setattr(forked, "MIN_FILES", 10)
    monkeypatch.setattr(threading, "active_count", lambda: 1)  # the test runner's own threads hold no loader lock
    monkeypatch.setattr(spec_cache, "_PROCESS_CACHES", {})  # parse every file again, not from the last call
    starts: list[int] = []
    real_start = forked.start

    def counting(paths: list[str], work: object, weigh: object = None) -> object:
        mine, share = real_start(paths, work, weigh)  # type: ignore[arg-type]
        starts.append(len(share.paths) if share else 0)
        return mine, share

    monkeypatch.setattr(forked, "start", counting)
    specs = check_specs(root, use_cache=False).specs
    assert (starts and starts[0] > 0) == fork
    # the child's nodes carry the references its models make; the parent's are read off their models
    assert any(node.refs is not None for node in specs.nodes.values()) == fork
    return {str(nid): (node.json, node.own, node_refs(node)) for nid, node in specs.nodes.items()}  # type: ignore[misc]


@needs_fork
def test_a_forked_share_gives_the_same_nodes_as_parsing_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "g200"
    gen_specs.generate(root, 200, 3, [])
    alone = _compiled(root, False, monkeypatch)
    shared = _compiled(root, True, monkeypatch)
    assert len(alone) > 150
    assert shared == alone  # documents, hashes and references
    assert sum(len(refs) for _, _, refs in alone.values()) > 300
    # a node made from the child's JSON answers like one validated here
    specs = check_specs(root, use_cache=False).specs
    for node in specs.nodes.values():
        assert node.data["metadata"]["name"] == node.name
        assert node.model.kind == node.kind


@needs_fork
def test_files_with_problems_are_reported_by_the_parent_exactly_as_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "g200"
    gen_specs.generate(root, 200, 3, [])
    files = sorted(p for p in root.rglob("*.yaml") if p.name != "modelplane.yaml")
    for bad in files[1:40:7]:  # several files, some of them in the child's share
        bad.write_text(bad.read_text().replace("owner:", "ownr:", 1))

    def diagnostics(fork: bool) -> list[str]:
        with pytest.raises(SpecError) as err:
            _compiled(root, fork, monkeypatch)
        return [f"{d.code} {d.location} {d.message}" for d in err.value.diagnostics]

    alone = diagnostics(False)
    assert len(alone) >= 5
    assert diagnostics(True) == alone


def test_a_child_that_fails_leaves_its_share_to_the_parent(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    monkeypatch.setattr(forked, "usable", lambda: True)
    paths = [f"f{i}.yaml" for i in range(forked.MIN_FILES)]

    def boom(files: list[str]) -> dict[str, forked.Clean | None]:
        raise RuntimeError("the child fails")

    mine, share = forked.start(paths, boom)
    assert share is not None and sorted(mine + share.paths) == sorted(paths)
    got, left = share.collect()
    assert got == {} and left == share.paths

    def clean(files: list[str]) -> dict[str, forked.Clean | None]:
        return {p: ([(0, p.encode(), ("s", "m"))], []) if p.endswith("1.yaml") else None for p in files}

    mine, share = forked.start(paths, clean)
    assert share is not None
    got, left = share.collect()
    assert got and all(p.endswith("1.yaml") for p in got)
    assert got[next(iter(got))][0][0][1] == next(iter(got)).encode()
    assert sorted([*got, *left]) == sorted(share.paths)


def test_the_child_takes_its_share_of_the_work_from_files_the_parent_does_not_keep() -> None:
    """The child gets ``CHILD_SHARE`` of the bytes (plus a fixed cost a file), spread through the list, first
    from the files not marked to stay home: those hold documents whose typed model later stages read, which a
    child's JSON would make the parent validate again."""
    paths = [f"f{i:03}.yaml" for i in range(200)]
    sizes = {p: 300 if i % 5 else 7_500 for i, p in enumerate(paths)}  # every fifth a large multi-document file
    home = {p for i, p in enumerate(paths) if i % 5 == 0}
    mine, theirs = forked.split(paths, sizes, home)
    assert sorted(mine + theirs) == paths and not set(mine) & set(theirs)
    assert mine == sorted(mine) and theirs == sorted(theirs)  # each keeps the list's order

    def work(files: list[str]) -> int:
        return sum(sizes[p] + forked.FILE_COST for p in files)

    total = work(paths)
    assert abs(work(theirs) - forked.CHILD_SHARE * total) <= 7_500 + forked.FILE_COST  # within a file of its share
    assert not home & set(theirs) or set(paths) - home <= set(theirs)  # home files only once the others are taken
    # the others are plenty here: no home file goes to the child, and its share is spread through the list
    few_home = set(paths[:10])
    mine, theirs = forked.split(paths, sizes, few_home)
    assert not few_home & set(theirs)
    assert theirs[0] < "f050.yaml" and theirs[-1] > "f150.yaml"
    # without sizes every file weighs the same: about CHILD_SHARE of them
    mine, theirs = forked.split(paths, {})
    assert abs(len(theirs) - forked.CHILD_SHARE * len(paths)) <= 1


def test_no_fork_for_few_files_or_when_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    few = [f"f{i}.yaml" for i in range(forked.MIN_FILES - 1)]
    assert forked.start(few, lambda files: {}) == (few, None)
    monkeypatch.setenv("MODELPLANE_PARSE_FORK", "0")
    assert not forked.usable()


def test_no_fork_when_every_core_is_busy_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.delenv("MODELPLANE_PARSE_FORK", raising=False)
    monkeypatch.setattr(forked, "_running_now", lambda: 1)  # nothing else runnable this instant
    monkeypatch.setattr(os, "getloadavg", lambda: (4.5, 1.0, 1.0))
    assert not forked.usable()  # four cores, all busy: the child would only compete
    monkeypatch.setattr(os, "getloadavg", lambda: (0.7, 1.0, 1.0))
    assert forked.usable()
    monkeypatch.setattr(os, "getloadavg", lambda: (4.5, 1.0, 1.0))
    monkeypatch.setenv("MODELPLANE_PARSE_FORK", "1")
    assert forked.usable()  # asked for: forks whatever the load


def test_no_fork_on_two_cores_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """On two cores parent and child take both, and the fork cost more CPU than the wall time it saved."""
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.delenv("MODELPLANE_PARSE_FORK", raising=False)
    monkeypatch.setattr(forked, "_running_now", lambda: 1)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))  # idle
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    assert not forked.usable()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2})
    assert forked.usable()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    monkeypatch.setenv("MODELPLANE_PARSE_FORK", "1")
    assert forked.usable()


def test_no_fork_while_every_core_has_a_task_running(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 1-minute load average lags behind a process that just started on the other core: the tasks
    runnable this instant (this one included) decide too."""
    monkeypatch.delenv("MODELPLANE_PARSE_FORK", raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2})
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    monkeypatch.setattr(forked, "_running_now", lambda: 1)
    assert forked.usable()
    monkeypatch.setattr(forked, "_running_now", lambda: 3)  # this process and one on each other core
    assert not forked.usable()
    monkeypatch.setenv("MODELPLANE_PARSE_FORK", "1")  # forced: whatever the load
    assert forked.usable()


def test_the_tasks_running_now_are_read_from_proc_loadavg() -> None:
    assert forked._running_now() >= 1  # at least this test's own process


def test_the_commands_own_children_are_not_another_cores_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `git` the command started (reading the base's objects) may be running when the parse starts: it is the
    command's own short work, not a reason to give up the second core."""
    monkeypatch.delenv("MODELPLANE_PARSE_FORK", raising=False)
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1, 2})
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    monkeypatch.setattr(forked, "_running_now", lambda: 3)  # this process and two more
    monkeypatch.setattr(forked, "_own_children_running", lambda: 1)  # ... one of which is its own child
    assert forked.usable()
    monkeypatch.setattr(forked, "_own_children_running", lambda: 0)  # ... which is someone else's
    assert not forked.usable()


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc")
def test_a_running_child_of_this_process_is_counted() -> None:
    import subprocess
    import time

    before = forked._own_children_running()
    child = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        deadline = time.monotonic() + 5
        while forked._own_children_running() <= before and time.monotonic() < deadline:
            time.sleep(0.05)  # until it runs (it may wait for a core now and then)
        assert forked._own_children_running() > before
    finally:
        child.kill()
        child.wait()
    assert forked._own_children_running() == before


def test_a_files_weight_counts_its_documents_and_endpoints() -> None:
    """The split weighs a file by what parsing it costs: bytes, each further document, each endpoint (measured
    ~30 µs for a dataset file, ~49 µs for an endpoint file of about its size, ~600 µs for 24 documents)."""
    from modelplane.compiler.load import loader

    dataset = b"apiVersion: modelplane/v1\nkind: Dataset\nmetadata: {name: a, owner: o}\nspec: {uri: s3://x/}\n"
    endpoint = dataset.replace(b"Dataset", b"Endpoint")
    assert loader._weight(dataset) == len(dataset)
    assert loader._weight(endpoint) == len(endpoint) + loader._ENDPOINT_COST
    many = b"---\n".join([dataset] * 23 + [endpoint])
    assert loader._weight(many) == len(many) + 23 * loader._DOC_COST + loader._ENDPOINT_COST
    assert loader._weight(b"---\n" + many) == loader._weight(many) + 4  # a leading `---` starts no other document
