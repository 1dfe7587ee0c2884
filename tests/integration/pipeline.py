"""A small project whose commands log every side effect, for apply tests.

``scripts/step.py NAME`` appends ``start``/``done`` lines (with pid, attempt
and time) to ``effects.log``; it sleeps ``slow.json[NAME]`` seconds in between
(a file, so a test changes timings without restarting the background worker).
Evaluations write ``metrics.json`` values as their metrics.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent / "modelplane"

PROJECT = """\
name: pipeline
specs: ["specs/*.yaml"]
environments:
  dev: {}
"""

STEP = """\
import json, os, sys, time
name = sys.argv[1]
root = os.getcwd()
def log(event):
    with open(os.path.join(root, "effects.log"), "a") as f:
        f.write(json.dumps({"name": name, "event": event, "pid": os.getpid(), "t": time.time(),
                            "attempt": os.environ.get("MODELPLANE_ATTEMPT"),
                            "key": os.environ.get("MODELPLANE_IDEMPOTENCY_KEY")}) + "\\n")
log("start")
try:
    slow = json.load(open(os.path.join(root, "slow.json")))
except OSError:
    slow = {}
time.sleep(float(slow.get(name, 0)))
if os.environ.get("MODELPLANE_METRICS_FILE"):
    metrics = json.load(open(os.path.join(root, "metrics.json")))
    json.dump(metrics, open(os.environ["MODELPLANE_METRICS_FILE"], "w"))
if name == "train":  # the trained weights: a retrain's endpoints roll out this folder's digest
    with open(os.path.join(os.environ["MODELPLANE_OUTPUT_DIR"], "weights.json"), "w") as f:
        json.dump({"trained_at": time.time()}, f)
log("done")
"""

SPECS = """\
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: raw, owner: team-data}
spec:
  uri: file://data/raw
  format: jsonl
  version: "1"
  schema: {columns: [{name: text, type: string}]}
---
apiVersion: modelplane/v1
kind: Dataset
metadata: {name: clean, owner: team-data}
spec:
  uri: file://data/clean
  format: jsonl
  derived_from: [raw]
  schema: {columns: [{name: text, type: string}]}
---
apiVersion: modelplane/v1
kind: Workflow
metadata: {name: prep, owner: team-data}
spec:
  inputs: [dataset/raw]
  outputs: [dataset/clean]
  command: ["python3", "scripts/step.py", "prep"]
---
apiVersion: modelplane/v1
kind: Workflow
metadata: {name: train, owner: team-ml}
spec:
  inputs: [dataset/clean]
  outputs: [model/chat]
  command: ["python3", "scripts/step.py", "train"]
---
apiVersion: modelplane/v1
kind: Model
metadata: {name: chat, owner: team-ml}
spec:
  version: "1.0.0"
  artifact: file://models/chat
  parameters_b: 0.5
  trained_on: {datasets: [clean], workflow: train}
---
apiVersion: modelplane/v1
kind: Evaluation
metadata: {name: chat-quality, owner: team-ml}
spec:
  model: chat
  dataset: clean
  command: ["python3", "scripts/step.py", "eval"]
  metrics:
    - {name: accuracy, min: 0.5}
---
apiVersion: modelplane/v1
kind: Service
metadata: {name: helpdesk, owner: team-apps}
spec:
  consumes: [model/chat]
  tier: 2
"""

SERVING = """\
apiVersion: modelplane/v1
kind: Stack
metadata: {name: laptop, owner: team-platform}
spec: {provider: PROVIDER}
---
apiVersion: modelplane/v1
kind: Endpoint
metadata: {name: chat, owner: team-serving}
spec:
  model: chat
  stack: laptop
  resources: {accelerator: L4}
  traffic: {qps: 10, input_tokens: 50, output_tokens: 50}
  slo: {p99_latency_ms: 1000, availability: 0.999}
  autoscaling: {min_replicas: 2, max_replicas: 2}
  engine:
    simulator: {ttft_ms: 10, tpot_ms: 1}
  rollout:
    steps:
      - {weight: 50, pause: 1s}
      - {weight: 100}
    analysis: {window: 2s, min_requests: 5, inconclusive_limit: 3}
"""


@dataclass
class Pipeline:
    root: Path
    env: dict[str, str] = field(default_factory=dict)
    """Added to (or, empty, blanking) the environment of every command run."""

    def run(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(BIN), *args, "-C", str(self.root)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**_env(), **self.env},
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"modelplane {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(BIN), *args, "-C", str(self.root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=_env(),
            preexec_fn=_as_a_terminals_foreground_job,
        )

    def effects(self) -> list[dict[str, object]]:
        path = self.root / "effects.log"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def count(self, name: str, event: str) -> int:
        return sum(1 for e in self.effects() if e["name"] == name and e["event"] == event)

    def wait_for(self, name: str, event: str, timeout: float = 60) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.effects():
                if e["name"] == name and e["event"] == event:
                    return e
            time.sleep(0.05)
        raise AssertionError(f"no {event} of {name} within {timeout}s; effects: {self.effects()}")

    def slow(self, **seconds: float) -> None:
        (self.root / "slow.json").write_text(json.dumps(seconds))

    def metrics(self, **values: float) -> None:
        (self.root / "metrics.json").write_text(json.dumps(values))

    def edit(self, old: str, new: str, file: str = "specs/pipeline.yaml") -> None:
        path = self.root / file
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))

    def router(self, endpoint: str = "chat") -> str:
        return f"http://127.0.0.1:{self.registry(endpoint)['router']['port']}"

    def registry(self, endpoint: str = "chat") -> dict[str, Any]:
        """The local stack's registry of ``endpoint`` in dev (its revisions, replicas, router, autoscaling)."""
        path = self.root / ".modelplane" / "local" / "dev" / f"{endpoint}.json"
        data: dict[str, Any] = json.loads(path.read_text())
        return data

    def worker_pid(self) -> int:
        return int(json.loads((self.root / ".modelplane" / "worker.json").read_text())["pid"])

    def server_pid(self) -> int:
        return int(json.loads((self.root / ".modelplane" / "temporal.json").read_text())["pid"])

    def stop(self) -> None:
        """Stop the background worker and server this project started, and local endpoints."""
        subprocess.run([str(BIN), "down", "-C", str(self.root)], capture_output=True, timeout=60, env=_env())
        for pid in (self._pid("worker.json"), self._pid("temporal.json")):
            if pid:
                _kill(pid, signal.SIGKILL)

    def _pid(self, name: str) -> int | None:
        try:
            return int(json.loads((self.root / ".modelplane" / name).read_text())["pid"])
        except (OSError, ValueError, KeyError):
            return None


def _as_a_terminals_foreground_job() -> None:
    """SIGINT and SIGQUIT as a shell's foreground job has them. A test suite started in the background (``make test
    &``, a CI runner's non-interactive shell) inherits them ignored, and an ignored signal stays ignored across exec:
    the command a test sends Ctrl-C to would never see it (Python installs no handler for an ignored SIGINT)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


def _env() -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "MODELPLANE_WORKER_IDLE_EXIT": "60"}


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def make_pipeline(root: Path, serving: bool = False, provider: str = "local") -> Pipeline:
    (root / "specs").mkdir(parents=True)
    (root / "scripts").mkdir()
    (root / "modelplane.yaml").write_text(PROJECT)
    (root / "specs" / "pipeline.yaml").write_text(SPECS)
    if serving:
        (root / "specs" / "serving.yaml").write_text(SERVING.replace("PROVIDER", provider))
    (root / "scripts" / "step.py").write_text(STEP)
    p = Pipeline(root)
    p.metrics(accuracy=0.9)
    return p


def copy_quickstart(tmp_path: Path) -> Pipeline:
    """A copy of examples/quickstart (the pristine one tests read) to apply and edit."""
    from tests.conftest import EXAMPLES

    root = tmp_path / "quickstart"
    shutil.copytree(EXAMPLES / "quickstart", root, ignore=shutil.ignore_patterns(".modelplane"))
    return Pipeline(root)


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[Pipeline]:
    p = copy_quickstart(tmp_path)
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    p = make_pipeline(tmp_path / "pipeline")
    try:
        yield p
    finally:
        p.stop()
