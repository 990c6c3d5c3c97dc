"""monop: a Kubernetes-style reconciliation operator for Podman monitoring stacks."""

__version__ = "0.1.0"
