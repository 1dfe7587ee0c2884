"""Fixtures for integration tests (real processes, a real Temporal dev server)."""

from tests.integration.pipeline import pipeline  # noqa: F401  (a fixture)
