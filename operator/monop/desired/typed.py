"""Values shaped as the model's fields take them, and what each field takes in the user's words.

YAML 1.1 reads unquoted `0022` as 18, `1:30` as 90, `1.10` as 1.1 and `no` as false. A field
that takes a string (an env value, a label, an argument, a duration) is given the scalar's
text as written; a field that takes a number or a boolean must get one: a quoted `"9100"`
there is refused, as Kubernetes refuses it against the CRD, and so are `.inf` and `.nan`.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from inspect import isclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from monop.api.text import Text
from monop.desired.yamldoc import Path

_NONE = type(None)


def _unwrap(annotation: Any, metadata: tuple[Any, ...] = ()) -> tuple[Any, tuple[Any, ...]]:
    """The annotation without Annotated and Optional, and the Annotated metadata gathered."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation, *extra = get_args(annotation)
            metadata = (*metadata, *extra)
            continue
        if get_origin(annotation) in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not _NONE]
            if len(rest) == 1:
                annotation = rest[0]
                continue
        return annotation, metadata


def _fields(model: type[BaseModel]) -> dict[str, tuple[Any, tuple[Any, ...]]]:
    out = {}
    for name, info in model.model_fields.items():
        entry = (info.annotation, tuple(info.metadata))
        out[name] = entry
        if info.alias:
            out[info.alias] = entry
    return out


def _takes_text(annotation: Any, metadata: tuple[Any, ...]) -> bool:
    if annotation is str or any(isinstance(m, Text) for m in metadata):
        return True
    if get_origin(annotation) is Literal:
        return any(isinstance(v, str) for v in get_args(annotation))
    # Models take their short string form (`9100:9100`, which YAML 1.1 reads as 555100).
    return isclass(annotation) and issubclass(annotation, BaseModel)


class _Shaper:
    def __init__(self, texts: Mapping[Path, str]) -> None:
        self.texts = texts
        self.problems: list[tuple[Path, str]] = []

    def model(self, model: type[BaseModel], value: Any, path: Path) -> Any:
        if not isinstance(value, dict):
            return value
        fields = _fields(model)
        return {
            key: self.value(*fields[key], item, (*path, key)) if key in fields else item
            for key, item in value.items()
        }

    def value(self, annotation: Any, metadata: tuple[Any, ...], value: Any, path: Path) -> Any:
        annotation, metadata = _unwrap(annotation, metadata)
        if value is None:
            return None
        takes_text = _takes_text(annotation, metadata)
        if path in self.texts and takes_text:
            return self.texts[path]
        origin, args = get_origin(annotation), get_args(annotation)
        if annotation in (bool, int, float) and not takes_text:
            self._check_scalar(annotation, value, path)
        elif origin in (tuple, list) and args:
            if isinstance(value, list):
                return [self.value(args[0], (), item, (*path, i)) for i, item in enumerate(value)]
            if isinstance(value, dict):  # one item where a list is taken (BusinessService.scrape)
                return self.value(args[0], (), value, path)
        elif origin is dict and len(args) == 2:
            if isinstance(value, dict):
                return {key: self.value(args[1], (), item, (*path, key)) for key, item in value.items()}
            if isinstance(value, list):  # the list-of-{name, value} form of env: every field a string
                return [self._strings(item, (*path, i)) for i, item in enumerate(value)]
        elif isclass(annotation) and issubclass(annotation, BaseModel):
            return self.model(annotation, value, path)
        return value

    def _strings(self, value: Any, path: Path) -> Any:
        if not isinstance(value, dict):
            return value
        return {key: self.texts.get((*path, key), item) for key, item in value.items()}

    def _check_scalar(self, annotation: type, value: Any, path: Path) -> None:
        wanted = describe(annotation)
        if isinstance(value, list | dict):
            return  # the model says so, with the same words
        is_bool = isinstance(value, bool)
        is_number = isinstance(value, int | float) and not is_bool
        if (annotation is bool and not is_bool) or (annotation is not bool and not is_number):
            self.problems.append((path, f"should be {wanted}; got {found(value)}"))
        elif (annotation is int and isinstance(value, float)) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            self.problems.append((path, f"should be {wanted}; got {self.texts.get(path, repr(value))}"))


def shape(
    model: type[BaseModel], value: Any, texts: Mapping[Path, str]
) -> tuple[Any, list[tuple[Path, str]]]:
    """`value` with each string field given its text as written; and the fields of the wrong type.

    Each problem is (field path, message); the model is then validated on the shaped value.
    """
    shaper = _Shaper(texts)
    return shaper.model(model, value, ()), shaper.problems


def annotation_at(model: type[BaseModel], loc: tuple[str | int, ...]) -> tuple[Any, tuple[Any, ...]] | None:
    """The annotation (and its metadata) of the field at `loc` inside `model`, if it can be found."""
    annotation: Any = model
    metadata: tuple[Any, ...] = ()
    for part in loc:
        annotation, metadata = _unwrap(annotation, metadata)
        origin, args = get_origin(annotation), get_args(annotation)
        if isclass(annotation) and issubclass(annotation, BaseModel) and isinstance(part, str):
            field = _fields(annotation).get(part)
            if field is None:
                return None
            annotation, metadata = field
        elif origin in (tuple, list) and args and isinstance(part, int):
            annotation, metadata = args[0], ()
        elif origin is dict and len(args) == 2 and isinstance(part, str):
            annotation, metadata = args[1], ()
        else:
            return None
    return _unwrap(annotation, metadata)


_NOUNS: dict[Any, tuple[str, str]] = {
    str: ("a string", "strings"),
    int: ("a whole number", "whole numbers"),
    float: ("a number", "numbers"),
    bool: ("true or false", "true or false values"),
}


def describe(annotation: Any, metadata: tuple[Any, ...] = (), *, plural: bool = False) -> str:
    """What a field of this annotation takes: "a list of strings", "a duration like 30s"."""
    annotation, metadata = _unwrap(annotation, metadata)
    text = next((m for m in metadata if isinstance(m, Text)), None)
    if text is not None:
        return text.noun if not plural else "values each " + text.noun
    if annotation in _NOUNS:
        return _NOUNS[annotation][plural]
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return "one of " + ", ".join(str(v) for v in args)
    if origin in (tuple, list) and args:
        return ("lists" if plural else "a list") + " of " + describe(args[0], plural=True)
    if origin is dict and len(args) == 2:
        return ("mappings" if plural else "a mapping") + " of names to " + describe(args[1], plural=True)
    if isclass(annotation) and issubclass(annotation, BaseModel):
        noun = getattr(annotation, "noun", None)
        if isinstance(noun, str):
            return noun if not plural else f"items each {noun}"
        names = ", ".join(info.alias or name for name, info in annotation.model_fields.items())
        return ("mappings" if plural else "a mapping") + f" with fields {names}"
    return "another value"


def found(value: Any) -> str:
    """What was written, as kubectl says it: "a string", "a list"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "a value of another kind"
