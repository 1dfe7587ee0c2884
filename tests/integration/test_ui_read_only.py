"""Issue 14: the embedded server's Web UI allows no write action unless the project file turns them on."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from modelplane.runtime.procs import Identity, is_ours
from modelplane.runtime.temporal.server import ensure_server, stop_server

pytestmark = pytest.mark.integration


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def _get_when_ready(url: str) -> int:
    """The status of a read through the front, once the UI reaches the server (it dials it a moment after start)."""
    deadline = time.monotonic() + 20
    while True:
        try:
            return _get(url)[0]
        except urllib.error.HTTPError as e:
            if e.code != 503 or time.monotonic() > deadline:
                return e.code
            time.sleep(0.2)


def _post(url: str) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=b'{"reason": "test"}', method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_default_ui_reads_everything_and_writes_nothing(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    info = ensure_server(root)  # temporal.ui defaults to read-only
    try:
        assert info.ui_url and info.ui_proxy
        status, page = _get(info.ui_url + "/")
        assert status == 200 and b"<html" in page.lower()
        status, body = _get(info.ui_url + "/api/v1/settings")
        assert status == 200 and json.loads(body)["DisableWriteActions"] is True  # the UI hides the buttons
        assert _get_when_ready(info.ui_url + "/api/v1/namespaces/default/workflows") == 200
        # and the API refuses the writes themselves, however they are sent
        for action in ("terminate", "cancel", "signal/x", "reset"):
            status, body = _post(f"{info.ui_url}/api/v1/namespaces/default/workflows/apply%2Fp%2Fdev/{action}")
            assert status == 403, (action, body)
            assert "temporal.ui: on" in json.loads(body)["message"]
        proxy = Identity(**info.ui_proxy)
    finally:
        stop_server(root)
    deadline = time.monotonic() + 10
    while is_ours(proxy) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not is_ours(proxy)  # it stops with the server


def test_ui_on_passes_writes_to_the_server(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    info = ensure_server(root, ui="on")
    try:
        assert info.ui_url and info.ui_proxy is None
        status, _ = _post(f"{info.ui_url}/api/v1/namespaces/default/workflows/nothing-runs/terminate")
        assert status != 403  # the server answers for itself (the workflow does not exist)
    finally:
        stop_server(root)


def test_ui_off_runs_none(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    info = ensure_server(root, ui="off")
    try:
        assert info.ui_url is None and info.ui_proxy is None
    finally:
        stop_server(root)
