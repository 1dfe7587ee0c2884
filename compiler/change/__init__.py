"""Stage 4, change: what differs from the base, and what that means downstream.

- ``state``: the applied state as the compiler reads it (the base without ``--base``);
- ``diff``: node and field changes; ``impact``: downstream effects with the chain of reasons;
- ``whatif``: ``modelplane impact SELECTOR`` and ``state:modified``.
"""
