"""`monop run`: the wiring of the long-running controller, its triggers, HTTP endpoints, webhook,
health runner, metrics, systemd notification and the state store `monop status` reads.
"""
