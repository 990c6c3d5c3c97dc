"""The checks across resources, run on each host's selection: names, ports, targets, policy,
alerting and routing, Grafana's dashboards, and with `check_rules` promtool and amtool (monop.desired.loader reads
the files; monop.desired.fleet says what each host runs)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from monop.api.alerting import ALERTING_KINDS
from monop.api.grafana import GRAFANA_KINDS
from monop.api.rules import AlertRuleGroupResource
from monop.desired import alerting as alerting_checks
from monop.desired import fleet
from monop.desired import grafana as grafana_checks
from monop.desired import policy as host_policy
from monop.desired.amconfig import check_config as check_alertmanager_config
from monop.desired.dashboard import Dashboard
from monop.desired.promql import check_groups
from monop.desired.routing import analyse as analyse_routing
from monop.desired.ruletests import run_tests
from monop.desired.state import LoadedResource
from monop.desired.validate import check_all, duplicate_names
from monop.errors import Problem, Severity


@dataclasses.dataclass(frozen=True)
class Checked:
    """One host's selection, split by what it becomes, and the problems it has."""

    resources: list[LoadedResource]  # containers
    rule_groups: list[LoadedResource]  # AlertRuleGroups
    alerting: list[LoadedResource]  # AlertReceivers and the AlertRouting
    grafana: list[LoadedResource]  # GrafanaDashboards and GrafanaDatasources
    dashboards: tuple[Dashboard, ...]  # the GrafanaDashboards built (monop.desired.grafana)
    problems: list[Problem]


def check_hosts(
    shared: Sequence[LoadedResource],
    per_host: Mapping[str, Sequence[LoadedResource]],
    names: Collection[str],
    host: fleet.Host,
    *,
    root: Path,
    default_address: str,
    exists_on_host: Callable[[str], bool],
    policy: host_policy.Policy | None,
    check_rules: bool,
    found: Sequence[Problem] = (),
) -> tuple[Checked, list[Problem]]:
    """`host`'s selection checked, and the problems of every host in `names` (monop.desired.fleet.combine).

    Another host is known by its name alone: its devices and paths are not looked for here, and
    a resource placed by another of its labels is left out of its checks (`fleet.undecided`).
    promtool checks every host's rule groups once each; amtool and the dashboards' PromQL check
    every host's config and dashboards where they differ from this host's.
    """
    by_host: dict[str, list[Problem]] = {}
    mine: Checked | None = None
    groups: dict[int, LoadedResource] = {}  # every host's rule groups, each once
    elsewhere: dict[str, Checked] = {}
    for name in sorted(names):
        own = name == host.name
        checked = check_selection(
            fleet.selection(
                shared, per_host.get(name, []), host if own else fleet.Host(name, labels_known=False)
            ),
            root=root,
            default_address=default_address,
            exists_on_host=exists_on_host if own else _anything,
            policy=policy,
            check_rules=check_rules and own,
            found=found,
        )
        by_host[name] = checked.problems
        mine = checked if own else mine
        if not own:
            elsewhere[name] = checked
        groups.update((id(g), g) for g in checked.rule_groups)
    assert mine is not None, "names holds the host itself"
    if check_rules:  # amtool and the dashboards' PromQL where another host's differ from this one's
        for name, checked in elsewhere.items():
            by_host[name].extend(_checked_elsewhere(checked, mine, [*found, *by_host[name]]))
    problems = fleet.combine(by_host, host.name)
    if check_rules:  # the groups only other hosts have (a hosts/<name>/ one)
        others = [g for g in groups.values() if not any(g is m for m in mine.rule_groups)]
        problems.extend(check_groups(others))
        problems.extend(run_tests(others))
    return mine, problems


def _checked_elsewhere(checked: Checked, mine: Checked, found: Sequence[Problem]) -> list[Problem]:
    """amtool on another host's Alertmanager config and promtool on its dashboards' queries,
    where they are not this host's (checked already): a broken `hosts/<name>/` receiver or
    dashboard is refused on every host."""
    problems: list[Problem] = []
    own = {id(r) for r in mine.grafana}
    problems.extend(grafana_checks.check_promql([d for d in checked.dashboards if id(d.loaded) not in own]))
    keys = {r.key for r in checked.alerting}
    differs = {id(r) for r in checked.alerting} != {id(r) for r in mine.alerting}
    if differs and not any(p.severity is Severity.ERROR and p.resource in keys for p in found):
        problems.extend(check_alertmanager_config(checked.alerting))
    return problems


def _anything(path: str) -> bool:
    return True  # another host's devices and paths are not here to look at


def check_selection(
    selected: list[LoadedResource],
    *,
    root: Path,
    default_address: str,
    exists_on_host: Callable[[str], bool],
    policy: host_policy.Policy | None,
    check_rules: bool,
    found: Sequence[Problem] = (),
) -> Checked:
    """Every check across the resources one host runs; promtool and amtool with `check_rules`
    (amtool not on a receiver with a problem already `found` in its file). `root` is the tree's
    directory, which a GrafanaDashboard's `jsonFile` is read from."""
    problems: list[Problem] = []
    rule_groups = [r for r in selected if isinstance(r.resource, AlertRuleGroupResource)]
    # Alertmanager's kinds (monop.desired.alerting): receivers and routing, no container either.
    alerting = [r for r in selected if r.resource.kind in ALERTING_KINDS]
    # Grafana's kinds (monop.desired.grafana): files for Grafana, no container either.
    grafana = [r for r in selected if r.resource.kind in GRAFANA_KINDS]
    loaded = [
        r
        for r in selected
        if not isinstance(r.resource, AlertRuleGroupResource)
        and r.resource.kind not in ALERTING_KINDS
        and r.resource.kind not in GRAFANA_KINDS
    ]
    problems.extend(check_all(loaded, default_address=default_address, exists_on_host=exists_on_host))
    problems.extend(host_policy.check(loaded, policy))
    problems.extend(duplicate_names(rule_groups))
    problems.extend(alerting_checks.check(alerting, loaded, default_address=default_address, policy=policy))
    problems.extend(analyse_routing(alerting, rule_groups))
    for kind in GRAFANA_KINDS:
        problems.extend(duplicate_names([r for r in grafana if r.resource.kind == kind]))
    dashboards, grafana_problems = grafana_checks.load(grafana, root)
    problems.extend(grafana_problems)
    if check_rules:
        problems.extend(check_groups(rule_groups))
        problems.extend(grafana_checks.check_promql(dashboards))
        problems.extend(run_tests(rule_groups))
        # amtool only on a config monop would write: after its own, better-located refusals.
        keys = {r.key for r in alerting}
        if not any(p.severity is Severity.ERROR and p.resource in keys for p in [*found, *problems]):
            problems.extend(check_alertmanager_config(alerting))
    return Checked(loaded, rule_groups, alerting, grafana, dashboards, problems)
