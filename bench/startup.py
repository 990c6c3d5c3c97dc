"""Benchmark: what a person waits for when they type `monop`, beside a shell reconciler and `podman ps`.

Against a private Podman with N converged stand-in services (default 40), each the median of
REPEATS whole processes, interpreter start included:
- `monop --version` and `monop --help`;
- no-op `monop apply`: everything already as desired;
- a 15-line shell reconciler (SHELL_RECONCILER below) doing one `podman ps` and starting
  nothing, the same decision made the plainest way;
- `podman ps` alone: the floor for asking Podman anything from a fresh process.

Usage: bench/run (all benchmarks), or .venv/bin/python bench/startup.py [N].
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from monop_testbed import images
from monop_testbed.podman_service import PodmanService
from reconcile import write_tree  # bench/reconcile.py: N Exporters, each on a loopback port

REPEATS = 15
# What monop's no-op apply decides, the plainest way: one `podman ps`, start what is not running.
SHELL_RECONCILER = """\
#!/bin/sh
# Usage: reconcile.sh NAMES_FILE PODMAN_URL. Starts every named container that is not running.
set -eu
names=$1
url=$2
running=" $(podman --url "$url" ps --filter status=running --format '{{.Names}}' | tr '\\n' ' ') "
while read -r name; do
  case "$running" in
    *" $name "*) ;;
    *) echo "starting $name"; podman --url "$url" start "$name" >/dev/null ;;
  esac
done <"$names"
"""


def monop_command() -> list[str]:
    """The `monop` a person runs: the console script beside this interpreter."""
    script = Path(sys.executable).parent / "monop"
    return [str(script)] if script.exists() else [sys.executable, "-m", "monop"]


def timed(argv: list[str], env: dict[str, str], quiet: bool = False) -> float:
    """Seconds for one whole process; it must exit 0 (and print nothing, if `quiet`)."""
    started = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0 or (quiet and result.stdout):
        raise SystemExit(f"{' '.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return elapsed


def median_of(argv: list[str], env: dict[str, str], quiet: bool = False) -> float:
    timed(argv, env, quiet)  # warm the page cache once
    return statistics.median(timed(argv, env, quiet) for _ in range(REPEATS))


def bench(n: int) -> dict[str, str]:
    with (
        tempfile.TemporaryDirectory(prefix="monop-bench-") as tmp,
        PodmanService(Path(tmp) / "podman") as service,
    ):
        images.build_metrics(service)
        tree = write_tree(Path(tmp), n)
        names = Path(tmp) / "names"
        names.write_text("".join(f"bench-{i}\n" for i in range(n)))
        script = Path(tmp) / "reconcile.sh"
        script.write_text(SHELL_RECONCILER)
        script.chmod(0o755)
        env = {**service.env, "MONOP_PODMAN_URL": service.url, "MONOP_STATE_DIR": str(Path(tmp) / "state")}
        # As installed: Python's bytecode cached (a session may forbid writing it; its first run writes it here).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["MONOP_SD_DIR"], env["MONOP_RULES_DIR"] = str(Path(tmp) / "sd"), str(Path(tmp) / "rules")
        monop = monop_command()
        apply = [*monop, "apply", "-d", str(tree)]
        timed(apply, env)  # converge: the runs below find nothing to do
        row = {
            "N": str(n),
            "`monop --version` (s)": median_of([*monop, "--version"], env),
            "`monop --help` (s)": median_of([*monop, "--help"], env),
            "no-op `monop apply` (s)": median_of(apply, env),
            "shell reconciler (s)": median_of([str(script), str(names), service.url], env, quiet=True),
            "`podman ps` (s)": median_of(["podman", "--url", service.url, "ps"], env),
        }
        service.remove_all_containers()
    return {k: v if isinstance(v, str) else f"{v:.3f}" for k, v in row.items()}


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    load = os.getloadavg()[0]
    row = bench(n)
    print("| " + " | ".join(row) + " |")
    print("|" + "---|" * len(row))
    print("| " + " | ".join(row.values()) + " |")
    print(f"\n(load average {load:.2f} when it started, on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
