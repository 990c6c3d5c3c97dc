"""A local stand-in world for monop's tests, benchmark and demo: a private Podman service and small images.

No image registry is reachable here, so the images monop runs in tests are built from
files on this machine (busybox, the Debian node exporter). Nothing here is used by monop itself.
"""
