"""MODELPLANE_TIMINGS: stage times are exclusive, so they add up to the time spent in stages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelplane.compiler import timings
from tests.conftest import EXAMPLES


def test_a_nested_stage_is_charged_to_itself_not_to_its_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timings, "ENABLED", True)
    monkeypatch.setattr(timings, "_totals", {})

    @timings.timed("inner")
    def inner() -> None:
        time.sleep(0.05)

    @timings.timed("outer")
    def outer() -> None:
        time.sleep(0.02)
        inner()
        time.sleep(0.02)

    outer()
    got = timings.totals()
    assert list(got) == ["outer", "inner"]
    assert 0.05 <= got["inner"] < 0.2
    assert 0.04 <= got["outer"] < 0.05 + 0.04  # not the inner sleep


def test_off_by_default_it_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(timings, "ENABLED", False)
    monkeypatch.setattr(timings, "_totals", {})
    timings.timed("x")(lambda: None)()
    assert timings.totals() == {}


def test_the_cli_prints_the_split_of_a_real_run() -> None:
    env = {**os.environ, "MODELPLANE_TIMINGS": "json"}
    proc = subprocess.run(
        [sys.executable, "-m", "modelplane", "validate", "--no-cache", "-C", str(EXAMPLES / "quickstart")],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent,
    )
    assert proc.returncode == 0, proc.stderr
    split = json.loads(proc.stderr.strip().splitlines()[-1])
    assert {"scan", "parse+validate", "resolve"} <= set(split)
    assert all(v >= 0 for v in split.values())
