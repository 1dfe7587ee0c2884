"""The pure compiler: source -> load -> graph -> change -> plan -> report.

Each stage is a subpackage; ``compile`` is the front door (``compile_graph``, ``check_specs``,
``make_plan``), ``incremental`` holds the caches and the base overlay. Nothing here starts processes,
opens sockets or talks to Temporal; it reads files (or git objects) and returns values.
"""
