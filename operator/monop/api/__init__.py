"""What users write: the resource kinds, their container parts and types, and the CRDs made from them.

Pure: nothing here loads a file or talks to Podman or Prometheus.
"""
