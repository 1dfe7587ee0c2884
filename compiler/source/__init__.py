"""Stage 1, source: find the project and its spec files, read them safely (the working tree or a git ref),
and parse YAML fast, with positions recovered only for files that have something to report.

- ``scan``: the project file, every spec file and its content hash, parsing nothing;
- ``files``: the safe reader (size and link limits, globs), ``FileSource`` and ``GitSource``;
- ``yamlio``: the fast parse and the YAML-safety checks; ``positions``: file:line:col for diagnostics.
"""
