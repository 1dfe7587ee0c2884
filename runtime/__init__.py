"""Effects: Temporal workflows and activities, state store, provisioners, router.

Empty until the durable-apply issue lands; the compiler's ``state.StateReader`` and the
plan file (``compiler.planfile.Plan``) are its inputs.
"""
