"""The control loop's machinery: a work queue of keys, per-key backoff, crash-loop tracking, workers.

Pure asyncio: time comes from an injected Clock, and nothing here talks to Podman.
"""
