"""Team mode: the Temporal service a checkout or a worker uses can come from the environment (CI, a service)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from modelplane.errors import ModelplaneError
from modelplane.runtime.settings import settings_for
from modelplane.runtime.temporal.client import temporal_api_key


def test_environment_variables_win_over_the_project_file(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_project({}, project="name: demo\ntemporal: {address: 'a.example:7233', namespace: ns1}\n")
    assert (settings_for(root, None).temporal.address, settings_for(root, None).temporal.namespace) == (
        "a.example:7233",
        "ns1",
    )
    monkeypatch.setenv("MODELPLANE_TEMPORAL_ADDRESS", "temporal.team.internal:7233")
    monkeypatch.setenv("MODELPLANE_TEMPORAL_NAMESPACE", "ml-platform")
    monkeypatch.setenv("MODELPLANE_TEMPORAL_TASK_QUEUE", "modelplane-prod")
    t = settings_for(root, None).temporal
    assert (t.address, t.namespace, t.task_queue) == ("temporal.team.internal:7233", "ml-platform", "modelplane-prod")
    assert not settings_for(root, None).embedded


def test_the_api_key_comes_from_the_environment_or_a_file_never_the_project_file(
    make_project: Callable[..., Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key_file = tmp_path / "temporal-key"
    key_file.write_text("key-from-file\n")
    root = make_project({}, project=f"name: demo\ntemporal: {{address: 'x:7233', api_key_file: '{key_file}'}}\n")
    monkeypatch.delenv("MODELPLANE_TEMPORAL_API_KEY", raising=False)
    assert temporal_api_key(settings_for(root, None)) == "key-from-file"
    monkeypatch.setenv("MODELPLANE_TEMPORAL_API_KEY", "key-from-env")
    assert temporal_api_key(settings_for(root, None)) == "key-from-env"
    monkeypatch.delenv("MODELPLANE_TEMPORAL_API_KEY")
    key_file.unlink()
    with pytest.raises(ModelplaneError, match=r"cannot read .*temporal-key") as info:
        temporal_api_key(settings_for(root, None))
    assert "temporal.api_key_file" in (info.value.diagnostics[0].hint or "")
    bad = make_project({}, project="name: demo2\ntemporal: {address: 'x:7233', api_key: 'sk-123'}\n")
    with pytest.raises(ModelplaneError):  # there is no field for the key itself
        settings_for(bad, None)
