"""Exporting the desired state to Kubernetes: workloads, Services, Prometheus Operator kinds, and what stayed behind."""
