"""Value types shared by several kinds: durations, text, commands, columns, references.

These are where the dialect is forgiving, each with one canonical meaning: what a
spec may write differently (``version: 7``, ``type: int``, ``command: python
train.py``, ``1h30m``, ``model: model/chat``) is kept in one spelling, so two ways
of writing the same thing have the same normalized value and the same fingerprint.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Union

from pydantic import BeforeValidator, Field, StrictStr, StringConstraints
from pydantic_core import PydanticCustomError

from modelplane.specs.base import NAME_PATTERN, Bool, Name, StrictModel

# ---- durations ---------------------------------------------------------------------------
# Written with the units w, d, h, m, s and ms, alone or combined from the largest unit down
# (`90s`, `1h30m`, `1w`); kept in one canonical spelling (d, h, m, s, ms: `1h30m`, `7d`), so
# `90m` and `1h30m` are the same value, in fingerprints and reports alike.

_UNIT_MS = {"w": 604_800_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
DURATION_PATTERN = r"^([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$"
_DURATION_RE = re.compile(DURATION_PATTERN)
_PART_RE = re.compile(r"([0-9]+)(ms|w|d|h|m|s)")
_CANONICAL_UNITS = ("d", "h", "m", "s", "ms")
DURATION_HINT = "write a number and a unit (ms, s, m, h, d or w), or several from the largest down: 30s, 10m, 1h30m, 1w"
DurationText = Annotated[str, StringConstraints(pattern=r"^([0-9]+(ms|w|d|h|m|s))+$")]
"""What the JSON Schema (for editors) says a duration looks like."""


def duration_ms(text: str) -> int:
    """Milliseconds in a duration (``30s``, ``1h30m``)."""
    if not text or _DURATION_RE.match(text) is None:
        raise ValueError(f"not a duration: {text!r} ({DURATION_HINT})")
    return sum(int(n) * _UNIT_MS[u] for n, u in _PART_RE.findall(text))


def duration_seconds(text: str) -> float:
    """Seconds in a duration string (validated by the model already)."""
    return duration_ms(text) / 1000


def canonical_duration(ms: int) -> str:
    """The one spelling of a duration: the largest units first, none repeated (5,400,000 ms is ``1h30m``)."""
    if ms == 0:
        return "0s"
    out = []
    for unit in _CANONICAL_UNITS:
        n, ms = divmod(ms, _UNIT_MS[unit])
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def _duration(value: object) -> object:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value  # the str validator says what is wrong
    if not isinstance(value, str):
        shown = int(value) if isinstance(value, float) and value.is_integer() else value
        raise PydanticCustomError(
            "duration_unit", "`{value}` has no unit", {"value": str(value), "suggestion": f"{shown}s"}
        )
    if not value or _DURATION_RE.match(value) is None:
        raise PydanticCustomError("duration", "`{value}` is not a duration", {"value": value})
    return canonical_duration(duration_ms(value))


_CANONICAL_DURATION = (
    r"^(0s|([1-9][0-9]*d)?(([1-9]|1[0-9]|2[0-3])h)?(([1-9]|[1-5][0-9])m)?(([1-9]|[1-5][0-9])s)?([1-9][0-9]{0,2}ms)?)$"
)
Duration = Annotated[
    Union[  # noqa: UP007  (fast first: see specs.base.Bool)
        Annotated[StrictStr, StringConstraints(min_length=2, pattern=_CANONICAL_DURATION)],
        Annotated[str, BeforeValidator(_duration, json_schema_input_type=DurationText)],
    ],
    Field(union_mode="left_to_right"),
]
"""A duration: ``30s``, ``10m``, ``1h30m``, ``1w``; kept canonical (``90m`` is ``1h30m``)."""


# ---- text where YAML reads a number ----------------------------------------------------------


def _text(value: object) -> object:
    """Versions and command arguments are text, but YAML reads `7` and `2` as numbers. An integer
    is its digits; a float is refused here, and the loader lets it through only where the file
    wrote exactly what the float prints (`1.5`), never where digits would be lost (`1.10`)."""
    if isinstance(value, bool):
        return value  # the str validator says "expected text"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise PydanticCustomError("number_as_text", "`{value}` is a number, not text", {"value": repr(value)})
    return value


Text = Annotated[
    Union[StrictStr, Annotated[str, BeforeValidator(_text, json_schema_input_type=int)]],  # noqa: UP007
    Field(union_mode="left_to_right"),
]
"""Text that may be written as a number (``version: 7``, ``[--epochs, 2]``)."""

NonEmptyText = Annotated[Text, StringConstraints(min_length=1)]


def _argv(value: object) -> object:
    """A command is a list of arguments, or one string split as a POSIX shell splits words
    (quotes group words; nothing is expanded: no variables, globs or pipes)."""
    if isinstance(value, str):
        import shlex

        try:
            return shlex.split(value)
        except ValueError as exc:
            raise PydanticCustomError(
                "command_split", "cannot split `{value}` into arguments: {reason}", {"value": value, "reason": str(exc)}
            ) from None
    return value


Command = Annotated[
    Union[  # noqa: UP007
        Annotated[list[StrictStr], Field(min_length=1)],
        Annotated[list[Text], BeforeValidator(_argv, json_schema_input_type=str), Field(min_length=1)],
    ],
    Field(union_mode="left_to_right"),
]
"""``[python3, train.py, --epochs, 2]``, or ``python3 train.py --epochs 2`` (split like a shell)."""


# ---- column types ----------------------------------------------------------------------------

COLUMN_TYPE_PATTERN = (
    r"^(string|bool|int8|int16|int32|int64|float32|float64|date|timestamp|bytes|json"
    r"|decimal\([0-9]+,[0-9]+\)|array<.+>|map<.+>|struct<.+>)$"
)
COLUMN_TYPE_ALIASES = {
    "int": "int64",
    "integer": "int64",
    "bigint": "int64",
    "long": "int64",
    "smallint": "int16",
    "tinyint": "int8",
    "float": "float64",
    "double": "float64",
    "real": "float32",
    "varchar": "string",
    "text": "string",
    "str": "string",
    "char": "string",
    "boolean": "bool",
    "datetime": "timestamp",
    "binary": "bytes",
}
"""What other tools call the column types, and the canonical name each is kept and shown as."""
_SIMPLE_COLUMN_TYPES = frozenset(
    ("string", "bool", "int8", "int16", "int32", "int64", "float32", "float64", "date", "timestamp", "bytes", "json")
)


def _column_type(value: object) -> object:
    if isinstance(value, str):
        low = value.lower()
        return low if low in _SIMPLE_COLUMN_TYPES else COLUMN_TYPE_ALIASES.get(low, value)
    return value


ColumnType = Annotated[
    Union[  # noqa: UP007
        Annotated[StrictStr, StringConstraints(pattern=COLUMN_TYPE_PATTERN)],
        Annotated[str, BeforeValidator(_column_type), StringConstraints(pattern=COLUMN_TYPE_PATTERN)],
    ],
    Field(union_mode="left_to_right"),
]

# ---- references ------------------------------------------------------------------------------

QUALIFIED_REF_PATTERN = r"^(dataset|feature|workflow|model|evaluation|endpoint|service|stack)/[a-z0-9][a-z0-9-]{0,62}$"


def NameOf(kind: str) -> BeforeValidator:
    """On a field that can only name a node of ``kind``: ``kind/name`` is accepted too, and kept as the name."""
    prefix = f"{kind}/"

    def strip(value: object) -> object:
        if isinstance(value, str) and "/" in value:
            if value.startswith(prefix):
                return value[len(prefix) :]
            other = value.split("/", 1)[0]
            raise PydanticCustomError(
                "wrong_kind",
                "`{value}` names a {other}, but this field can only name a {kind}",
                {"value": value, "other": other, "kind": kind},
            )
        return value

    return BeforeValidator(strip)


def _name_of(kind: str) -> object:
    """A field that names a node of ``kind``: a bare name, or ``kind/name`` kept as the name."""
    return Annotated[
        Union[Name, Annotated[str, NameOf(kind), StringConstraints(pattern=NAME_PATTERN)]],  # noqa: UP007
        Field(union_mode="left_to_right"),  # a bare name passes in Rust (see specs.base.Bool)
    ]


if TYPE_CHECKING:  # to a type checker each is a plain string; pydantic sees the validators
    DatasetName = str
    FeatureName = str
    WorkflowName = str
    ModelName = str
    StackName = str
else:
    DatasetName, FeatureName, WorkflowName, ModelName, StackName = map(
        _name_of, ("dataset", "feature", "workflow", "model", "stack")
    )


class Column(StrictModel):
    """A typed column of a dataset or feature table."""

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = Field(
        description="The column's name, an identifier (letters, digits, `_`); features read columns by it."
    )
    type: ColumnType = Field(
        description="The column's type: string, bool, int8-int64, float32/64, date, timestamp, bytes, json, "
        "`decimal(p,s)`, `array<...>`, `map<...>` or `struct<...>`; other tools' names (`int`, `varchar`...) are kept "
        "as these. Retyping a column breaks the features that read it."
    )
    nullable: Bool = Field(default=True, description="Whether the column may hold nulls.")
    description: str = Field(default="", description="What the column holds, for people.")


Columns = Annotated[list[Column], Field(min_length=1)]
