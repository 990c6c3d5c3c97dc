"""How `monop test rule` prints the alerts a rule's tests raise (pure: the text from given runs)."""

from __future__ import annotations

import monop.cli.main  # noqa: F401  (first: rulecheck is imported through it, not on its own)
from monop.cli.rulecheck import _trial_text
from monop.desired import ruletrial
from monop.desired.ruletrial import Evaluation, FiredAlert


def test_a_multi_line_annotation_stays_indented_under_its_name() -> None:
    fired = FiredAlert({"alertname": "A"}, {"description": "first line\nsecond line", "summary": "s"})
    run = ruletrial.TestRun(0, "t", "r.yaml", 3, "spec.tests[0]", None, (Evaluation(60.0, (fired,)),))
    assert _trial_text("AlertRuleGroup/g", "A", [run]).splitlines()[-3:] == [
        "      description: first line",
        "                   second line",
        "      summary: s",
    ]
