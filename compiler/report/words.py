"""Counted nouns in output: ``plural(1, "action")`` is "1 action", ``plural(3, "action")`` "3 actions".

One helper for every report and CLI line, so no output says "1 actions" or hedges with "action(s)".
"""

from __future__ import annotations

IRREGULAR = {"process": "processes", "replica": "replicas", "is": "are", "was": "were", "entry": "entries"}


def plural_of(word: str, n: int) -> str:
    """``word`` as it reads after the number ``n`` (regular English plurals, and the irregular ones we print)."""
    if n == 1:
        return word
    if word in IRREGULAR:
        return IRREGULAR[word]
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    if word.endswith("y") and word[-2:-1] not in ("a", "e", "i", "o", "u"):
        return word[:-1] + "ies"
    return word + "s"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``n`` and ``word``, made plural unless ``n`` is 1 (``many``: the plural where it is not the rule's)."""
    return f"{n} {word if n == 1 else many or plural_of(word, n)}"
