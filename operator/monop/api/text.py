"""What a field takes, in the user's words: the marker of fields that parse a string, and their nouns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Text:
    """`Annotated` metadata of a field that parses a string (a duration, a memory size).

    Such a field is given the scalar as written (`1:30`, not YAML 1.1's 90); `noun` is what
    an error message says the field takes.
    """

    noun: str
