"""The local stack: endpoint replicas as processes on this machine behind a per-endpoint router."""
