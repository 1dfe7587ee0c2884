"""Effects: Temporal workflows and activities, the state store, the embedded server, provisioners.

- ``workflows``: ApplyPlan (walks a plan's actions) and EndpointRollout (one endpoint);
- ``activities`` and ``executors/``: every side effect, keyed for idempotency;
- ``state_store``: the applied state (SQLite), implementing the compiler's ``StateReader``;
- ``server``, ``connection``, ``worker``: the embedded Temporal server, clients, workers;
- ``apply``: freshness checks, the lock, start or re-attach.
"""
