"""Where a resource runs: `spec.placement`, a Kubernetes label selector matched against a host's labels.

The shape is Kubernetes' LabelSelector (`matchLabels`, `matchExpressions` with In, NotIn,
Exists, DoesNotExist), as a pod's nodeSelector/nodeAffinity reads a node's labels. A host's
labels are the `host_labels` setting plus `hostname` (HOSTNAME_LABEL), always present.
No placement: the resource runs on every host that reads it. Of a host whose labels are not
known here (another host of a fleet: only its `hostname` is), a requirement on another key is
undecided (`decides` returns None).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

HOSTNAME_LABEL = "hostname"  # as Kubernetes' kubernetes.io/hostname, without the prefix
# A host's name (the `host_name` setting, a `hosts/<name>/` folder): as a DNS name, dots allowed.
HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")
HOST_NAME_RULE = "letters, digits, '.', '_' or '-', starting and ending with a letter or digit"


class Requirement(BaseModel):
    """One `matchExpressions` item: `key` `operator` `values`, as Kubernetes' LabelSelectorRequirement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(min_length=1, description="The host label the requirement is about.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = Field((), description="For In and NotIn: at least one; else none.")

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Requirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs at least one of values")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self

    def decides(self, labels: Mapping[str, str], known: Collection[str] | None = None) -> bool | None:
        """Whether `labels` meet the requirement; None if its key is not in `known` (None: all known)."""
        if known is not None and self.key not in known:
            return None
        return self.matches(labels)

    def matches(self, labels: Mapping[str, str]) -> bool:
        has = self.key in labels
        if self.operator == "Exists":
            return has
        if self.operator == "DoesNotExist":
            return not has
        inside = has and labels[self.key] in self.values
        return inside if self.operator == "In" else not inside


class Placement(BaseModel):
    """The hosts a resource runs on: every `matchLabels` pair and every `matchExpressions` item hold."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    match_labels: dict[str, str] = Field(
        default_factory=dict,
        alias="matchLabels",
        description="Host labels that must have these values (hostname: the host's name).",
    )
    match_expressions: tuple[Requirement, ...] = Field(
        (),
        alias="matchExpressions",
        description="Requirements on host labels: In, NotIn, Exists, DoesNotExist.",
    )

    def matches(self, labels: Mapping[str, str]) -> bool:
        """True when a host with `labels` runs the resource (an empty placement: every host)."""
        return all(labels.get(k) == v for k, v in self.match_labels.items()) and all(
            r.matches(labels) for r in self.match_expressions
        )

    def decides(self, labels: Mapping[str, str], known: Collection[str] | None = None) -> bool | None:
        """`matches`, for a host of which only the label keys in `known` are known (None: all):
        False when a known label already rules the host out, None when an unknown one decides."""
        verdicts = [
            None if known is not None and k not in known else labels.get(k) == v
            for k, v in self.match_labels.items()
        ]
        verdicts += [r.decides(labels, known) for r in self.match_expressions]
        if False in verdicts:
            return False
        return None if None in verdicts else True

    def hostnames(self) -> Iterable[str]:
        """The host names the placement names (`hostname: X`, `hostname In [X, Y]`)."""
        if HOSTNAME_LABEL in self.match_labels:
            yield self.match_labels[HOSTNAME_LABEL]
        for r in self.match_expressions:
            if r.key == HOSTNAME_LABEL and r.operator in ("In", "NotIn"):
                yield from r.values
