"""Desired state: YAML read with line marks, resources validated one by one and as a whole."""
