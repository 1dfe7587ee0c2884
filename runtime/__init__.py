"""Effects: Temporal workflows and activities, the state store, the embedded server, provisioners.

- ``workflows``: ApplyPlan (walks a plan's actions) and EndpointRollout (one endpoint);
- ``activities`` and ``executors/``: every side effect, keyed for idempotency;
- ``state/``: the applied state (SQLite or PostgreSQL behind Protocols, one ``open_store()``);
- ``server``, ``connection``, ``worker``: the embedded Temporal server, clients, workers;
- ``apply``: freshness checks, the lock, start or re-attach.
"""
