"""Stage 2, load: YAML documents -> validated, normalized specs (``SpecSet``).

- ``loader``: the load of a whole project (cached per file, a share validated in a forked child);
- ``validate``: pydantic errors -> diagnostics at file:line:col; ``interpolate``: ``${...}`` values;
- ``references``: the typed references each spec declares; ``secrets``: ``${secret.NAME}`` references;
- ``specset``: ``SpecNode``/``SpecSet``, what the next stage links.
"""
