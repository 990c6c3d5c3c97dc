"""The JSON Schema of a field that takes more than one form, for the CRDs and for editors.

A Kubernetes structural schema cannot say "a string or a mapping": the CRD keeps such a
value (`x-kubernetes-preserve-unknown-fields`) and monop's own validator checks it. An
editor's JSON Schema can say it, with `anyOf`; `editor_schemas()` switches to that form
while the schemas in `schemas/` are generated (monop.api.schema).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from pydantic import GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

_EDITOR: ContextVar[bool] = ContextVar("editor_schema", default=False)


@contextmanager
def editor_schemas() -> Iterator[None]:
    """Within it, fields annotated with Forms give their editor (JSON Schema) form."""
    token = _EDITOR.set(True)
    try:
        yield
    finally:
        _EDITOR.reset(token)


@dataclass(frozen=True, eq=False)  # hashed by identity: typing hashes Annotated metadata
class Forms:
    """`Annotated` metadata: the CRD's schema of a field, and the forms an editor offers.

    `crd` is the field's schema in a CRD (default: any value, described; its own description
    wins over `description`); `others` are
    JSON Schemas of the forms besides the field's own model, which is offered too when `own`;
    with `one_or_many`, the field is a list and one item alone is offered too.
    """

    description: str
    others: tuple[dict[str, Any], ...] = ()
    own: bool = True
    crd: dict[str, Any] | None = None
    one_or_many: bool = False

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        if not _EDITOR.get():
            if self.crd is not None:
                return {"description": self.description, **self.crd}
            return {"x-kubernetes-preserve-unknown-fields": True, "description": self.description}
        forms = list(self.others)
        if self.own:
            own = handler(core_schema)
            forms += [own["items"], own] if self.one_or_many else [own]
        if len(forms) == 1:
            return {**forms[0], "description": self.description}
        return {"anyOf": forms, "description": self.description}
