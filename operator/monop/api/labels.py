"""The labels monop puts on what it makes: part of its interface, like Kubernetes' well-known labels.

`monop.dev/managed-by=monop` marks a container as monop's; `monop.dev/instance` names which monop
(the `instance` setting) keeps it. What the labels mean for ownership is `monop.runtime.ownership`.
"""

from __future__ import annotations

PREFIX = "monop.dev/"
MANAGED_BY = PREFIX + "managed-by"
KIND = PREFIX + "kind"
NAME = PREFIX + "name"
SPEC_HASH = PREFIX + "spec-hash"
SPEC = PREFIX + "spec"
REVISION = PREFIX + "revision"
REPLACES = PREFIX + "replaces"  # on a replacement made under its swap name: the ID it replaces
INSTANCE = PREFIX + "instance"
HOST = PREFIX + "host"  # the fleet host whose selection it is (monop.desired.fleet); not part of the spec
MANAGER = "monop"
DEFAULT_INSTANCE = "default"
