"""YAML documents as plain Python values, with the line of every value kept by its path.

PyYAML's composer keeps a mark on each node; converting nodes ourselves (instead of
`safe_load`) lets every later error point at the line of the field it is about.

YAML 1.1 reads some unquoted scalars as other types: `0022` as 18, `1:30` as 90, `1.10` as
1.1, `yes` as true. The text as written is kept beside each such value (`Document.texts`),
so a field that takes a string gets exactly what was written (monop.desired.typed).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # The C loader is several times faster; PyYAML wheels ship it.
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path = tuple[str | int, ...]
MAX_NODES = 200_000  # an alias bomb expands past any honest resource long before this
MAX_DEPTH = 64


def dotted(path: Path) -> str:
    """`spec.ports[0]`: a field path as people write it."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def as_written(lines: Mapping[Path, Any], path: Path) -> Path:
    """`path` as the document has it: a list field written as one item (`scrape: {port: 9100}`)
    has no `[0]`, so `spec.scrape[0].port` is `spec.scrape.port` there."""
    out: Path = ()
    for part in path:
        if part == 0 and isinstance(part, int) and (*out, 0) not in lines and out in lines:
            continue
        out = (*out, part)
    return out


class YamlError(ValueError):
    """The text is not YAML monop can read; `line` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class Document:
    """One YAML document: its value, its first line, and the line of each path inside it."""

    value: Any
    line: int
    lines: dict[Path, int]
    texts: dict[Path, str] = field(default_factory=dict)  # unquoted non-string scalars, as written

    def line_of(self, path: Path) -> int:
        """The line of the deepest prefix of `path` present in the document."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return self.line

    def deepest(self, path: Path) -> Path:
        """The longest prefix of `path` that is present in the document."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return path[:end]
        return ()


class _Converter:
    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.texts: dict[Path, str] = {}
        self.count = 0

    def convert(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        line = node.start_mark.line + 1
        if self.count > MAX_NODES:
            raise YamlError(f"document has more than {MAX_NODES} values (an alias bomb?)", line)
        if len(path) > MAX_DEPTH:
            # Also the end of a recursive alias (`&a [*a]`), which would otherwise never stop.
            raise YamlError(f"values nested more than {MAX_DEPTH} deep", line)
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        value = _construct(node)
        if isinstance(value, str):
            if "\0" in value:
                # No path, argument, variable or label can carry it: the kernel ends the string there.
                raise YamlError(
                    "a value contains a NUL byte (\\0), which no path, argument or label can hold", line
                )
        elif value is not None and not node.style:  # plain: None (Python loader) or "" (C loader)
            self.texts[path] = node.value
        return value

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise YamlError("merge keys (<<) are not supported", key_node.start_mark.line + 1)
            key = _scalar(key_node)
            if not isinstance(key, str | int | float | bool):
                raise YamlError(f"mapping key {key!r} must be a string", key_node.start_mark.line + 1)
            # A key is always a name: `0022:` is the name "0022", as written, not 18.
            key = key if isinstance(key, str) else str(key_node.value)
            if key in out:
                raise YamlError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
            # The key's line, not the value's: for a nested mapping that is where the field is named.
            self.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = self.convert(value_node, (*path, key))
        return out


def _scalar(node: yaml.Node) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise YamlError("mapping keys must be plain values", node.start_mark.line + 1)
    return _construct(node)


# Scalars are built by the loader's own constructor so `9999`, `true` and `null` mean what YAML says.
_constructor = _Loader("")


def _construct(node: yaml.ScalarNode) -> Any:
    try:
        return _constructor.construct_object(node, deep=True)
    except yaml.YAMLError as err:
        raise YamlError(_describe(err), node.start_mark.line + 1) from None


def _describe(err: yaml.YAMLError) -> str:
    problem = getattr(err, "problem", None) or str(err).splitlines()[0]
    context = getattr(err, "context", None)
    return f"{context}: {problem}" if context else str(problem)


def read_documents(text: str) -> Iterator[Document]:
    """Each non-empty document in `text`; raises YamlError with the line of the first fault."""
    loader = _Loader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            converter = _Converter()
            value = converter.convert(node, ())
            if value is not None:
                yield Document(value, node.start_mark.line + 1, converter.lines, converter.texts)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise YamlError(_describe(err), mark.line + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise YamlError(_describe(err)) from None
    finally:
        loader.dispose()
