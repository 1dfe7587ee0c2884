"""The lineage explorer: a static site (``modelplane docs generate``) built from the compiled graph."""
