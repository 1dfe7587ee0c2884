"""What makes a warm or a ``--base`` compile fast: caches and the base overlay (never a different answer).

- ``spec_cache``: validated documents per file, and the code fingerprint every cache is keyed by;
- ``graph_cache``: a whole compiled graph by the fingerprint of its input;
- ``indexed_file``: both caches' file layout (an index line, then the documents' JSON back to back);
- ``overlay``: **the base overlay**: the base of ``plan --base`` as the head's graph with the files that
  differ swapped in.
"""
