"""Load a desired-state tree: every `*.yaml`/`*.yml` file, every document, every problem at once.

Nothing is returned unless the whole tree is valid, so an invalid state is never half-applied.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_origin

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from monop.api.alerting import ALERTING_KINDS
from monop.api.grafana import GrafanaDashboardResource, GrafanaDatasourceResource
from monop.api.resources import API_VERSION
from monop.api.rules import ALL_KINDS, AlertRuleGroupResource
from monop.desired import alerting as alerting_checks
from monop.desired import fleet, hints
from monop.desired import policy as host_policy
from monop.desired.checks import check_hosts
from monop.desired.secretenv import SecretFileError, read_env_file
from monop.desired.state import DesiredState, LoadedResource, MountedFile
from monop.desired.typed import annotation_at, describe, found, shape
from monop.desired.yamldoc import Document, YamlError, as_written, dotted, read_documents
from monop.errors import InvalidDesiredState, Problem, Severity

MAX_FILE_BYTES = 1 << 20  # desired state is hand-written; a megabyte is already a mistake
MAX_MOUNTED_BYTES = 64 << 20
SUFFIXES = (".yaml", ".yml")


def load(
    path: str | os.PathLike[str],
    *,
    default_address: str = "host.containers.internal",
    exists_on_host: Callable[[str], bool] = os.path.exists,
    revision: str | None = None,
    display: str | None = None,
    check_rules: bool = False,
    policy: host_policy.Policy | None = None,
    host: fleet.Host | None = None,
) -> DesiredState:
    """Read and validate the tree (or single file) at `path`; raise InvalidDesiredState listing every problem.

    `display` is how messages name `path` (a git source says `REV:dir`). With `check_rules`,
    every AlertRuleGroup (every host's) is also checked by promtool (a subprocess, about 30 ms) and
    its `tests` run by `promtool test rules`, and this host's Alertmanager config by `amtool check-config`; `policy`
    refuses what it does not allow (monop.desired.policy). `host` (default: this machine, no
    labels) is whose selection is returned; every host the tree names is validated (monop.desired.fleet).
    """
    root = Path(path)
    display = display or str(path)
    host = host or fleet.this_host()
    if not root.exists():
        raise InvalidDesiredState([Problem(display, None, None, None, "no such file or directory")])
    problems: list[Problem] = []
    loaded: list[LoadedResource] = []
    files = sorted(_yaml_files(root)) if root.is_dir() else [root]
    if not files:
        problems.append(Problem(display, None, None, None, "no *.yaml or *.yml files here"))
    per_file = {}
    for file in files:
        shown = str(Path(display) / file.relative_to(root)) if root.is_dir() else display
        per_file[file] = _load_file(file, shown, root if root.is_dir() else root.parent)
    # A YAML file a container mounts (an exporter's config, a prometheus.yml) is content, not resources.
    mounted = [m.path for resources, _ in per_file.values() for r in resources for m in r.mounted]
    per_host: dict[str, list[LoadedResource]] = {}
    for file, (resources, file_problems) in per_file.items():
        if any(file.resolve().is_relative_to(m) for m in mounted):
            continue
        problems.extend(file_problems)
        try:
            owner = fleet.host_of(PurePosixPath(file.relative_to(root).as_posix())) if root.is_dir() else None
        except ValueError as err:
            problems.append(Problem(str(Path(display) / file.relative_to(root)), None, None, None, str(err)))
            continue
        (loaded if owner is None else per_host.setdefault(owner, [])).extend(resources)
    problems.extend(Problem(display, None, None, None, m) for m in fleet.case_clashes(per_host))
    problems.extend(fleet.never_run(per_host, host))
    # Every host the tree names is checked, so a commit that breaks one host is refused by all.
    every = [*loaded, *(r for rs in per_host.values() for r in rs)]
    names = fleet.named_hosts(per_host, every)
    is_fleet = bool(names) or any(fleet.placement_of(r) is not None for r in every)
    if is_fleet:
        problems.extend(fleet.host_label_clashes(every))
    mine, host_problems = check_hosts(
        loaded,
        per_host,
        names | {host.name},
        host,
        root=root if root.is_dir() else root.parent,
        default_address=default_address,
        exists_on_host=exists_on_host,
        policy=policy,
        check_rules=check_rules,
        found=problems,
    )
    problems.extend(host_problems)
    if any(p.severity is Severity.ERROR for p in problems):
        raise InvalidDesiredState(problems)
    return DesiredState(
        tuple(sorted(mine.resources, key=lambda r: r.key)),
        display,
        tuple(sorted(problems)),
        revision,
        tuple(sorted(mine.rule_groups, key=lambda r: r.key)),
        tuple(sorted(mine.alerting, key=lambda r: r.key)),
        tuple(sorted(mine.grafana, key=lambda r: r.key)),
        mine.dashboards,
        host=host.name,
        hosts=tuple(sorted(names | {host.name})),
        fleet=is_fleet,
        named=host.name in names,
        undecided=tuple(sorted(r.key for r in fleet.undecided(loaded, per_host.get(host.name, []), host))),
    )


def _yaml_files(root: Path) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        # Hidden folders hold tooling (.git, editors' swap), never resources.
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.endswith(SUFFIXES) and not name.startswith("."):
                yield Path(dirpath) / name


def _load_file(file: Path, shown: str, root: Path) -> tuple[list[LoadedResource], list[Problem]]:
    def problem(message: str, line: int | None = None) -> Problem:
        return Problem(shown, line, None, None, message)

    try:
        raw = read_regular(file, MAX_FILE_BYTES)
    except NotRegular as err:
        return [], [problem(str(err))]
    except OSError as err:
        return [], [problem(f"cannot read: {err.strerror}")]
    if b"\0" in raw:
        return [], [problem("not a text file (it contains NUL bytes)")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        return [], [problem(f"not UTF-8 text (byte 0x{raw[err.start]:02x})", line)]
    try:
        documents = list(read_documents(text))
    except YamlError as err:
        return [], [problem(f"invalid YAML: {err.message}", err.line)]
    if not documents:
        return [], [problem("no resources in this file (it is empty or only comments)")]
    resources: list[LoadedResource] = []
    problems: list[Problem] = []
    for doc in documents:
        resource, doc_problems = _load_document(doc, shown, file.parent, root)
        problems.extend(doc_problems)
        if resource is not None:
            resources.append(resource)
    return resources, problems


class NotRegular(ValueError):
    """A path that is not a regular file, or one larger than allowed; the message says which."""


def read_regular(file: Path, limit: int) -> bytes:
    """The bytes of `file` (a regular file, or a symlink to one), at most `limit` of them.

    A FIFO, a device (a symlink to /dev/zero) or a socket would block or never end: it is
    refused without being read, as is a file longer than `limit` bytes (NotRegular). The
    file is opened without blocking and checked once open, so a swap in between changes nothing.
    """
    fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegular(f"is {_file_type(info.st_mode)}, not a regular file (nor a symlink to one)")
        data = handle.read(limit + 1) if info.st_size <= limit else b""
    size = max(info.st_size, len(data))
    if size > limit:
        shown = f"{size}" if len(data) <= limit else f"more than {limit}"
        raise NotRegular(f"file is {shown} bytes; a desired-state file may have at most {limit}")
    return data


def _file_type(mode: int) -> str:
    kinds = [
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ]
    return next((name for test, name in kinds if test(mode)), "not a file")


def _load_document(
    doc: Document, shown: str, base: Path, root: Path
) -> tuple[LoadedResource | None, list[Problem]]:
    value = doc.value
    if not isinstance(value, dict):
        message = f"a resource is a mapping with apiVersion, kind, metadata and spec, not {_what(value)}"
        return None, [Problem(shown, doc.line, None, None, message)]
    kind = value.get("kind")
    name = value.get("metadata", {}).get("name") if isinstance(value.get("metadata"), dict) else None
    key = f"{kind}/{name}" if isinstance(kind, str) and isinstance(name, str) else None

    def problem(field: tuple[str | int, ...], message: str) -> Problem:
        return Problem(shown, doc.line_of(field), key, dotted(field) or None, message)

    if value.get("apiVersion") != API_VERSION:
        got = value.get("apiVersion")
        message = "missing; use " + API_VERSION if got is None else f"{got!r} is not {API_VERSION}"
        return None, [problem(("apiVersion",), message)]
    model = ALL_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        known = ", ".join(sorted(ALL_KINDS))
        if kind is None:
            return None, [problem(("kind",), f"missing; one of {known}")]
        return None, [
            problem(("kind",), f"unknown kind {kind!r}{_suggest(str(kind), ALL_KINDS)}; one of {known}")
        ]
    shaped, wrong = shape(model, value, doc.texts)
    # An item in another tool's shape gets one hint, instead of an error about each of its parts.
    foreign = hints.foreign_shapes(value)
    wrong = [(loc, message) for loc, message in wrong if not _within(loc, foreign)] + foreign
    problems = [Problem(shown, doc.line_of(loc), key, dotted(loc), message) for loc, message in wrong]
    try:
        resource = model.model_validate(shaped)
    except ValidationError as err:
        said = {loc for loc, _ in wrong}
        problems += [
            _from_pydantic(e, doc, shown, key, model)
            for e in err.errors(include_url=False)
            if as_written(doc.lines, tuple(e["loc"])) not in said
            and not _within(as_written(doc.lines, tuple(e["loc"])), foreign)
        ]
    if problems:
        return None, problems
    loaded = LoadedResource(resource, shown, doc.line, doc.lines, base)  # type: ignore[arg-type]
    if isinstance(resource, AlertRuleGroupResource | GrafanaDashboardResource | GrafanaDatasourceResource):
        return loaded, []  # a rule group mounts nothing, nor does Grafana's (a jsonFile is read later)
    if isinstance(
        resource, tuple(ALERTING_KINDS.values())
    ):  # mounts nothing; a receiver's secrets are read now
        secrets, secret_problems = alerting_checks.resolve_secrets(loaded, root)
        return dataclasses.replace(loaded, secret_env=secrets), secret_problems
    mounted, problems = _mounted_files(loaded, root)
    secret_env, secret_problems = _secret_env(loaded, root)
    return dataclasses.replace(loaded, mounted=mounted, secret_env=secret_env), problems + secret_problems


def _within(loc: tuple[str | int, ...], hinted: list[tuple[tuple[str | int, ...], str]]) -> bool:
    """True when `loc` is inside a hinted item, or is the list field that holds one."""
    return any(loc[: len(h)] == h or (len(loc) >= 2 and h[: len(loc)] == loc) for h, _ in hinted)


# pydantic's error types that mean "a value of the wrong kind", said in the user's words instead.
_WRONG_KIND = {
    "string_type",
    "int_type",
    "int_parsing",
    "int_from_float",
    "float_type",
    "float_parsing",
    "bool_type",
    "bool_parsing",
    "tuple_type",
    "list_type",
    "dict_type",
    "mapping_type",
    "model_type",
    "model_attributes_type",
    "iterable_type",
    "finite_number",
    "literal_error",
    "string_sub_type",
}


def _from_pydantic(
    error: ErrorDetails, doc: Document, shown: str, key: str | None, model: type[Any]
) -> Problem:
    loc = as_written(doc.lines, tuple(error["loc"]))
    kind = error["type"]
    if kind in _WRONG_KIND:
        message = _wrong_kind(model, loc, kind, error["input"], doc.texts.get(loc))
        return Problem(shown, doc.line_of(loc), key, dotted(doc.deepest(loc)) or None, message)
    if kind == "missing":
        return Problem(shown, doc.line_of(loc), key, dotted(loc), "required field is missing")
    if kind == "extra_forbidden":
        field = str(loc[-1])
        known = _known_fields(doc.value, loc[:-1])
        message = (
            hints.unknown_field(doc.value, loc, known) or f"unknown field {field!r}{_suggest(field, known)}"
        )
        return Problem(shown, doc.line_of(loc), key, dotted(loc[:-1]) or None, message)
    shown_loc = doc.deepest(loc)
    message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
    message = message.replace("Input should be", "should be")
    if shown_loc != loc and kind not in ("value_error",):
        message = f"{dotted(loc[len(shown_loc) :])}: {message}"
    return Problem(shown, doc.line_of(loc), key, dotted(shown_loc) or None, message)


_FALLBACK = {
    "string": "a string",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "tuple": "a list",
    "list": "a list",
    "dict": "a mapping",
    "model": "a mapping",
}


def _wrong_kind(model: type[Any], loc: tuple[str | int, ...], kind: str, value: Any, text: str | None) -> str:
    """`should be a list of strings; got a string`, as kubectl says what it found."""
    at = annotation_at(model, loc)
    wanted = describe(*at) if at is not None else _FALLBACK.get(kind.split("_")[0], "another kind of value")
    got = text if text is not None else found(value)
    if isinstance(value, str) and at is not None and get_origin(at[0]) is Literal:
        got = repr(value)
    return f"should be {wanted}; got {got}"


def _known_fields(value: dict[str, Any], loc: tuple[str | int, ...]) -> list[str]:
    """The field names a model at `loc` accepts, for a did-you-mean hint."""
    kind = value.get("kind")
    model: Any = ALL_KINDS.get(kind) if isinstance(kind, str) else None
    for part in loc:
        if model is None or isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", {})
        match = next((f for n, f in fields.items() if part in (n, f.alias)), None)
        model = _model_of(match.annotation) if match is not None else None
    fields = getattr(model, "model_fields", {})
    return [f.alias or n for n, f in fields.items()]


def _model_of(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if hasattr(candidate, "model_fields"):
            return candidate
        for inner in getattr(candidate, "__args__", ()):
            if hasattr(inner, "model_fields"):
                return inner
    return None


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _what(value: Any) -> str:
    return found(value)


def _mounted_files(res: LoadedResource, root: Path) -> tuple[tuple[MountedFile, ...], list[Problem]]:
    """Digest what the resource mounts from the desired tree, so editing a config file is drift."""
    mounted: list[MountedFile] = []
    problems: list[Problem] = []
    root = root.resolve()
    for i, volume in enumerate(res.resource.spec.volumes):
        source = Path(volume.host_path)
        relative = not source.is_absolute()
        target = (res.base_dir / source).resolve() if relative else source
        if not (relative or target.is_relative_to(root)):
            continue
        field = ("spec", "volumes", i)

        def problem(message: str, field: tuple[str | int, ...] = field) -> Problem:
            return Problem(res.file, res.line_of(*field), res.key, dotted(field), message)

        if not target.is_relative_to(root):
            problems.append(problem(f"hostPath {volume.host_path!r} leaves the desired tree"))
        elif not target.exists():
            message = f"hostPath {volume.host_path!r} does not exist (looked for {target})"
            if "/" not in volume.host_path:  # `data:/data`, as compose writes a named volume
                message += "; monop mounts host paths only: for compose's named volume, a directory (/srv/data:/data)"
            problems.append(problem(message))
        else:
            try:
                mounted.append(MountedFile(target, _digest(target)))
            except (OSError, ValueError) as err:
                problems.append(problem(f"hostPath {volume.host_path!r} cannot be read: {err}"))
    return tuple(mounted), problems


def _secret_env(res: LoadedResource, root: Path) -> tuple[dict[str, str], list[Problem]]:
    """What the resource's secretEnvFrom files hold, in order (a later file wins)."""
    env: dict[str, str] = {}
    problems: list[Problem] = []
    for i, name in enumerate(res.resource.spec.secret_env_from):
        field = ("spec", "secretEnvFrom", i)
        path = Path(name)
        try:
            if path.resolve().is_relative_to(root.resolve()):
                raise SecretFileError(
                    f"{name}: inside the desired tree; keep secrets outside it (and out of git)"
                )
            env.update(read_env_file(path))
        except SecretFileError as err:
            problems.append(Problem(res.file, res.line_of(*field), res.key, dotted(field), str(err)))
    return env, problems


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    total = 0
    for file in files:
        data = read_regular(file, MAX_MOUNTED_BYTES)
        total += len(data)
        if total > MAX_MOUNTED_BYTES:
            raise ValueError(f"more than {MAX_MOUNTED_BYTES} bytes to watch")
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode() + b"\0")
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()
