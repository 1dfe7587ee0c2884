"""Temporal core's own log lines go through Python logging, never straight to a terminal (issue 30, item 7).

The SDK's Rust core writes its WARN lines (a poll retried while the server is away, say) to the process's
stderr, with ANSI colours, by default: they reached users between a command's lines and broke a worker's
``--log-format json`` output. ``route(...)`` installs a runtime that forwards them as ``temporalio.core``
records instead: a worker formats them like its own lines (JSON with ``--log-format json``); a command
appends them to a file under ``.modelplane/logs/``, so its output carries only what modelplane prints.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

LOGGER = "temporalio.core"
_routed: list[bool] = []


def route(log_file: Path | None) -> None:
    """Once per process, before its first Temporal client: core's lines to the ``temporalio.core`` logger, and
    with ``log_file`` only there (a command's own output stays clean); without it they go wherever the
    process's logging sends its records (a worker's log)."""
    if _routed:
        return
    _routed.append(True)
    from temporalio.runtime import LogForwardingConfig, LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

    logger = logging.getLogger(LOGGER)
    if log_file is not None:
        logger.propagate = False
        with contextlib.suppress(OSError):  # a read-only project: the lines are dropped, never printed
            log_file.parent.mkdir(parents=True, exist_ok=True)
            logger.addHandler(logging.FileHandler(log_file, delay=True))
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
    forwarding = LogForwardingConfig(logger=logger)
    logs = LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"), forwarding=forwarding)
    Runtime.set_default(Runtime(telemetry=TelemetryConfig(logging=logs)), error_if_already_set=False)
