"""Everything monop tells Prometheus and asks it: file_sd targets, the scrape config, rule files,
the HTTP API client and target health. Independent of the Podman side.
"""
