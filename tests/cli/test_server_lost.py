"""Following an apply whose Temporal server goes away: one line, what happened and how to re-attach."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import typer
from temporalio.service import RPCError, RPCStatusCode

from modelplane.cli import follow
from modelplane.runtime.temporal.client import ApplyHandle


class _GoneHandle:
    """A workflow handle whose server stopped answering (what the SDK raises: UNAVAILABLE)."""

    async def query(self, *_: Any, **__: Any) -> Any:
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")


def test_losing_the_server_while_following_an_apply_says_how_to_re_attach(capsys: pytest.CaptureFixture[str]) -> None:
    s = SimpleNamespace(workflow_id="modelplane-apply-demo-dev", environment="dev")
    ep = SimpleNamespace(address="127.0.0.1:7233", namespace="default", ui_url=None)
    try:
        with pytest.raises(typer.Exit) as exit_info:
            handle = ApplyHandle(_GoneHandle(), ep, s, plan_id="p")  # type: ignore[arg-type]
            follow.run_async(follow.follow_apply(handle))
    finally:  # asyncio.run leaves no current loop; later tests (pulumi's mocks) expect one
        asyncio.set_event_loop(asyncio.new_event_loop())
    assert exit_info.value.exit_code == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "lost the Temporal server at 127.0.0.1:7233 while following apply modelplane-apply-demo-dev" in err
    assert "re-attach with `modelplane status --env dev --watch`" in err
    assert "Traceback" not in err
