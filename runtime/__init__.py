"""Effects: Temporal workflows and activities, state store, provisioners, router."""
