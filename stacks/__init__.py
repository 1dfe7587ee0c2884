"""Pulumi component resources for GPU serving clusters (used by the Pulumi provisioner).

Empty until the Pulumi-stacks issue lands.
"""
