"""Stack providers: one module per provider (``local.py``, ``kubernetes.py``, ``aws_eks.py``, ``gcp_gke.py``) and the
registry (``registry.py``) the compiler, the stacks and the runtime look a provider up in."""
