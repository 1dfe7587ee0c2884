"""Text from specs, state and git made safe to print on a terminal.

A spec value, an owner, a file name or a failure reason can hold control
characters: an ESC sequence would recolour, move the cursor or rewrite what the
plan appears to say, a carriage return would overwrite the line it is on, and
bidirectional overrides reorder what is shown. Every such character is printed
as its escape (``\\x1b``, ``\\r``, ``\\u202e``) instead; the reports add their own
colours after this.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional embeddings, overrides and isolates
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_LINE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(match.group(0))
    return named or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def safe(text: object) -> str:
    """``text`` with every control character escaped, newline and tab kept (multi-line messages stay readable)."""
    return _UNSAFE.sub(_escape, str(text))


def safe_line(text: object) -> str:
    """``text`` on one line: newline and tab are escaped too (a value inside a table row or a source snippet)."""
    return _UNSAFE_IN_LINE.sub(_escape, str(text))
