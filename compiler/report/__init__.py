"""Stage 6, report: the plan and the graph as people read them.

- ``text``: the terminal report; ``markdown``: **the markdown report** (a PR comment; its template is
  ``templates/reports/plan.md.j2``); ``graph``: text, mermaid, dot and JSON graph views;
- ``diagnostics``: diagnostics as text and JSON; ``terminal``: colour and escaping.
"""
