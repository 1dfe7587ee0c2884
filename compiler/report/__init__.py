"""Stage 6, report: the plan and the graph as people read them.

- ``text``: the terminal report; ``markdown``: **the markdown report** (a PR comment; its template is
  ``templates/reports/plan.md.j2``); ``graph``: text, mermaid, dot and JSON graph views;
- ``terminal``: colour and escaping (diagnostics are shown by the CLI's ``views/diagnostics.py``).
"""
