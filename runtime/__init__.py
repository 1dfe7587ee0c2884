"""Effects: the plan carried out. Ports (Protocols) here, adapters beside them.

- ``settings``: a project's settings per environment (its Temporal, its state);
- ``apply``: from a plan to a running workflow (freshness checks, the lock, start or re-attach);
- ``temporal/``: the embedded server, client, worker, workflows and their activities;
- ``executors/``: what each plan action does, keyed for idempotency via the ledger;
- ``provisioners/``: the ``Provisioner`` protocol and its registry by provider, ``local`` and ``pulumi``;
- ``local/``: the local stack's processes (router, vLLM simulator, autoscaler, registry);
- ``state/``: the applied state (SQLite or PostgreSQL behind Protocols, one ``open_store()``);
- ``analysis``: canary analysis; ``preflight``: checks before any effect; ``procs``: process helpers.
"""
