"""Pulumi component resources for GPU serving clusters (used by the Pulumi provisioner)."""
