"""Fetches of the git source counted and timed through its hook, against a real repository."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from monop.daemon.metrics import Metrics
from monop.desired.git import GitError, GitSource

GIT_ENV = {"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "a@example.org"}
GIT_ENV |= {"GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "a@example.org"}


def fetches(metrics: Metrics, result: str) -> float:
    got = metrics.registry.get_sample_value("monop_git_fetches_total", {"result": result})
    assert got is not None
    return got


def test_fetches_are_counted_by_result_and_timed(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "desired").mkdir(parents=True)
    (repo / "desired" / "a.yaml").write_text("# nothing yet\n")
    for args in (["init", "--quiet", "--initial-branch=main"], ["add", "--all"], ["commit", "-qm", "one"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, env={**os.environ, **GIT_ENV})
    metrics = Metrics(CollectorRegistry())
    assert (fetches(metrics, "success"), fetches(metrics, "error")) == (0, 0)

    GitSource(str(repo), "main", "desired", tmp_path / "work", on_fetch=metrics.git_fetched).fetch()
    missing = GitSource(str(repo), "nope", "desired", tmp_path / "other", on_fetch=metrics.git_fetched)
    with pytest.raises(GitError):
        missing.fetch()

    assert (fetches(metrics, "success"), fetches(metrics, "error")) == (1, 1)
    assert metrics.registry.get_sample_value("monop_git_fetch_duration_seconds_count") == 2
