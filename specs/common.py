"""Value types shared by several kinds: durations, columns, qualified references."""

from __future__ import annotations

import re
from typing import Annotated

from modelplane.specs.base import Bool, StrictModel
from pydantic import Field, StringConstraints

DURATION_PATTERN = r"^[0-9]+(ms|s|m|h|d)$"
_DURATION_RE = re.compile(r"^([0-9]+)(ms|s|m|h|d)$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN)]
"""A duration written like ``30s``, ``10m``, ``2h`` or ``1d``."""


def duration_seconds(text: str) -> float:
    """Seconds in a ``Duration`` string (validated by the model already)."""
    m = _DURATION_RE.match(text)
    if m is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 30s, 10m, 2h)")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


COLUMN_TYPE_PATTERN = (
    r"^(string|bool|int8|int16|int32|int64|float32|float64|date|timestamp|bytes|json"
    r"|decimal\([0-9]+,[0-9]+\)|array<.+>|map<.+>|struct<.+>)$"
)
ColumnType = Annotated[str, StringConstraints(pattern=COLUMN_TYPE_PATTERN)]

QUALIFIED_REF_PATTERN = r"^(dataset|feature|workflow|model|evaluation|endpoint|service|stack)/[a-z0-9][a-z0-9-]{0,62}$"


class Column(StrictModel):
    """A typed column of a dataset or feature table."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
    type: ColumnType
    nullable: Bool = True
    description: str = ""


Columns = Annotated[list[Column], Field(min_length=1)]
