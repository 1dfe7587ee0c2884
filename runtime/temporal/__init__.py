"""Temporal: the embedded server, the client and worker, the workflows and their activities.

- ``server``: the embedded dev server (one per project, its SQLite file in .modelplane/);
- ``gate``, ``private_net``: it runs in a network namespace of its own, reachable by its owner's uid alone;
- ``worker``: the worker process the CLI starts in the background;
- ``messages``: what crosses the workflow boundary (``ApplyInput``, ``ActionSpec``, results);
- ``workflows``: ApplyPlan (walks a plan's actions) and EndpointRollout (one endpoint);
- ``activity_defs``: each activity's name and types, declared once; ``activities``: their bodies.
"""
