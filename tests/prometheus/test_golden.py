"""What monop writes for Prometheus from desired/, compared whole with files kept in the repository.

As prometheus-operator's golden files: a change to the scrape config, a target file or a rule
file shows in review as a diff of what Prometheus will read. promtool checks the rule files and
the scrape config. `MONOP_UPDATE_GOLDEN=1 pytest tests/prometheus/test_golden.py` rewrites them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from monop.desired.loader import load
from monop.prometheus import rules, scrape

HERE = Path(__file__).parent / "golden"
REPO = Path(__file__).resolve().parents[2]
SD_DIR, RULES_DIR = Path("/var/lib/monop/file_sd"), Path("/var/lib/monop/rules")


def _rendered(tmp: Path) -> dict[str, str]:
    state = load(REPO / "desired", exists_on_host=lambda _: True)
    out = {"prometheus.yml": yaml.safe_dump(scrape.config(SD_DIR, RULES_DIR), sort_keys=False)}
    jobs = scrape.jobs(state, "127.0.0.1", "127.0.0.1:9108")
    for path in scrape.write_sd_files(jobs, tmp / "sd"):
        out[f"file_sd/{path.name}"] = path.read_text()
    for group in state.rule_groups:
        out[f"rules/{group.resource.metadata.name}.yml"] = rules.render(group)
    # A rule file names the file it came from; the checkout's place is no part of it.
    return {name: text.replace(str(REPO), "<repo>") for name, text in out.items()}


def test_what_monop_writes_for_prometheus_matches_the_golden_files(tmp_path: Path) -> None:
    rendered = _rendered(tmp_path)
    if os.environ.get("MONOP_UPDATE_GOLDEN"):
        for name, text in rendered.items():
            (HERE / name).parent.mkdir(parents=True, exist_ok=True)
            (HERE / name).write_text(text)
    kept = {str(p.relative_to(HERE)): p.read_text() for p in HERE.rglob("*") if p.is_file()}
    assert sorted(kept) == sorted(rendered), "golden files differ in number: MONOP_UPDATE_GOLDEN=1"
    for name, text in rendered.items():
        assert text == kept[name], f"{name} changed: review, then MONOP_UPDATE_GOLDEN=1"


def test_promtool_accepts_the_golden_files(tmp_path: Path) -> None:
    rule_files = sorted((HERE / "rules").glob("*.yml"))
    assert rule_files
    checked = subprocess.run(
        ["promtool", "check", "rules", *map(str, rule_files)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = yaml.safe_load((HERE / "prometheus.yml").read_text())
    # The rule_files glob points where the daemon writes; point it at the golden ones to check it all.
    config["rule_files"] = [str(HERE / "rules" / "*.yml")]
    for scrape_config in config["scrape_configs"]:
        for sd in scrape_config.get("file_sd_configs", []):
            sd["files"] = [str(HERE / "file_sd" / "*.json")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    checked = subprocess.run(
        ["promtool", "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_golden_scrape_config_has_one_job_reading_every_target_file() -> None:
    config = yaml.safe_load((HERE / "prometheus.yml").read_text())
    [job] = config["scrape_configs"]
    assert job["file_sd_configs"][0]["files"] == [str(SD_DIR / "*.json")]
