"""Counted nouns for the commands' own lines ("1 row", "3 rows"): the one helper the reports use too."""

from modelplane.compiler.report.words import plural, plural_of

__all__ = ["plural", "plural_of"]
