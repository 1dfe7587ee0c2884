"""OpenLineage out: ``events`` builds the events (pure), ``emitter`` sends them from the apply's activities
without ever failing or slowing it (a bounded buffer, a background thread, retries, a warning)."""
