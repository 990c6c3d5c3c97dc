"""The Podman side: a resource expanded to a container, ownership labels, the observed state,
and the one client that speaks the libpod API (the only importer of podman-py).
"""
