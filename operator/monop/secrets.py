"""Secrets as values: found once per container, then kept out of everything monop writes.

A value is secret when it is the value of a secret-looking variable (`DB_PASSWORD`,
`MYSQL_PWD`, `API_TOKEN`), comes from a `secretEnvFrom` file, is the password of a URL
(`postgres://app:PASS@db/app`), follows a secret-looking flag (`--password=PASS`,
`--token PASS`) or an authorization header (`Authorization: Bearer TOKEN`). Such a value
is then masked wherever it appears again, in any field, reason, error or log line.

Two masks: in the spec record a container carries as a label, a salted digest
(`<secret sha256:0123abcd4567ef89>`), so a change is still seen as drift; everywhere a person
reads, `<secret>`. `redact()` applies the known values and the patterns above; `scrub()`
does it to every string in a JSON-shaped value.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

MARK = "<secret>"
CHANGED = "<secret changed>"
_DIGEST_PREFIX = "<secret sha256:"
_DIGEST = re.compile(r"<secret sha256:[0-9a-f]+>")

_SECRET_NAME = re.compile(
    r"pass|pwd|secret|token|key|credential|auth|private|cookie|session|bearer", re.IGNORECASE
)
# Names that look secret and are not: the shell's working directories, paths to a secret.
_NOT_SECRET_NAME = re.compile(r"^(OLD)?PWD$|(file|path|dir)$", re.IGNORECASE)
# Values too common to search for elsewhere (an `AUTH_ENABLED=true` must not mask every "true");
# they are still masked where they stand.
_TOO_COMMON = {"true", "false", "yes", "no", "on", "off", "none", "null"}
MIN_SEARCHED = 4

# `scheme://user:PASSWORD@host`; `https://TOKEN@host` (a token as the user name) too.
_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:'\"]*)(?::(?P<pw>[^/@\s'\"]*))?@"
)
_HEADER = re.compile(
    r"(?P<name>\b(?:proxy-)?authorization|\bcookie|\bx-[a-z0-9-]*(?:token|key|secret|auth)[a-z0-9-]*"
    r"|\bprivate-token|\bapi-key)\s*:\s*(?:(?:basic|bearer|token|digest|negotiate)\s+)?"
    r"(?P<value>[^\s'\"]+)",
    re.IGNORECASE,
)
# `--password=VALUE`, `-token=VALUE`, `MYSQL_PWD=VALUE` inside one word or a shell string.
_ASSIGN = re.compile(
    r"(?<![\w.-])(?P<name>--?[A-Za-z][\w.-]*|[A-Za-z_][A-Za-z0-9_]*)=(?P<value>\"[^\"]*\"|'[^']*'|[^\s'\";&|)]+)"
)
# `--password VALUE` inside a shell string.
_FLAG_SPACE = re.compile(r"(?<![\w.-])(?P<name>--?[A-Za-z][\w.-]*)\s+(?P<value>[^\s'\"-][^\s'\"]*)")


def is_secret_name(name: str) -> bool:
    """A variable or flag name whose value never leaves monop in clear (`MYSQL_PWD`, `--api-token`)."""
    bare = name.lstrip("-")
    return bool(_SECRET_NAME.search(bare)) and not _NOT_SECRET_NAME.search(bare)


def digest(value: str) -> str:
    """The mask of a secret in a label: salted (no lookup table fits it), long enough to tell change."""
    return _DIGEST_PREFIX + hashlib.sha256(b"monop.dev/secret\0" + value.encode()).hexdigest()[:16] + ">"


def hide_digests(text: str) -> str:
    """A recorded value as a person sees it: every digest becomes `<secret>`."""
    return _DIGEST.sub(MARK, text)


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """`(url without credentials, user name, password)`; user and password are percent-decoded.

    An `ssh://git@host/...` keeps its user name (it is not a secret, and ssh needs it); an
    `http(s)://TOKEN@host` URL loses it, since a token is often given as the user name.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, None, None
    if "@" not in parts.netloc or not parts.scheme:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, password = userinfo.partition(":")
    keep_user = parts.scheme not in ("http", "https") and user
    netloc = f"{user}@{host}" if keep_user else host
    public = urlunsplit(parts._replace(netloc=netloc))
    return (
        public,
        unquote(user) if user and not keep_user else None,
        unquote(password) if colon else None,
    )


def public_url(url: str | None) -> str | None:
    """`url` as monop may store or print it: with no password or token in it."""
    return None if url is None else split_userinfo(url)[0]


def _found(text: str) -> set[str]:
    """Secret values the patterns see in one string (a shell command, a URL, an argument)."""
    out = set()
    for start, end in _pattern_spans(text):
        value = text[start:end]
        quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
        out.add(value[1:-1] if quoted else value)
        out.add(unquote(value))
    return {v for v in out if v}


def found_in_argv(argv: Sequence[str]) -> set[str]:
    """Secret values in an argument list: in each item, and after a lone `--password` item."""
    out: set[str] = set()
    for i, item in enumerate(argv):
        out |= _found(item)
        if item.startswith("-") and "=" not in item and is_secret_name(item) and i + 1 < len(argv):
            following = argv[i + 1]
            if not following.startswith("-"):
                out.add(following)
    return {v for v in out if v}


@dataclass(frozen=True)
class Secrets:
    """The secret values of one container (or of everything monop runs), and how to mask them."""

    values: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()  # variables secret whatever their name: from secretEnvFrom

    def __or__(self, other: Secrets) -> Secrets:
        return Secrets(self.values | other.values, self.names | other.names)

    def is_secret(self, name: str) -> bool:
        """Whether the variable `name` holds a secret: by its name, or by where its value came from."""
        return name in self.names or is_secret_name(name)

    def redact(self, text: str, mask: Callable[[str], str] = lambda _: MARK) -> str:
        """`text` with every known secret and every pattern-found one replaced by `mask(value)`."""
        spans = [m.span() for m in self._search.finditer(text)] if self._search else []
        spans += _pattern_spans(text)
        if not spans:
            return text
        out, at = [], 0
        for start, end in _merged(spans):
            out += [text[at:start], mask(text[start:end])]
            at = end
        out.append(text[at:])
        return "".join(out)

    @cached_property
    def _search(self) -> re.Pattern[str] | None:
        # Longest first: a value that contains another is masked whole.
        searched = sorted((v for v in self.values if _searched(v)), key=len, reverse=True)
        return re.compile("|".join(map(re.escape, searched))) if searched else None

    def record(self, text: str) -> str:
        """`text` as the label record keeps it: secrets as digests."""
        return self.redact(text, digest)


def _pattern_spans(text: str) -> list[tuple[int, int]]:
    """Where the patterns see a secret in `text`; a mask already there is left alone."""
    spans = []
    # Each pattern only where its punctuation is: most strings (paths, images) have none.
    if "@" in text and "://" in text:
        for match in _USERINFO.finditer(text):
            if match["pw"]:
                spans.append(match.span("pw"))
            elif match["user"] and match["scheme"].lower() in ("http://", "https://"):
                spans.append(match.span("user"))
    if ":" in text:
        spans += [m.span("value") for m in _HEADER.finditer(text)]
    if "=" in text:
        spans += [m.span("value") for m in _ASSIGN.finditer(text) if is_secret_name(m["name"])]
    if "-" in text and (" " in text or "\t" in text):
        spans += [m.span("value") for m in _FLAG_SPACE.finditer(text) if is_secret_name(m["name"])]
    # A `$VAR` is the shell's reference to a secret, not the secret: the command stays readable.
    return [(a, b) for a, b in spans if b > a and not text.startswith(("<secret", "$"), a)]


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def _searched(value: str) -> bool:
    return len(value) >= MIN_SEARCHED and value.lower() not in _TOO_COMMON


def collect(
    env: Iterable[tuple[str, str]],
    argvs: Iterable[Sequence[str] | None] = (),
    texts: Iterable[str] = (),
    secret_names: Iterable[str] = (),
) -> Secrets:
    """The secret values of one container: by variable name, in URLs, flags, headers and shell text."""
    names = frozenset(secret_names)
    values: set[str] = set()
    for name, value in env:
        if value and (name in names or is_secret_name(name)):
            values.add(value)
        values |= _found(value)
    for argv in argvs:
        values |= found_in_argv(argv or ())
    for text in texts:
        values |= _found(text)
    return Secrets(frozenset(values), names)


def scrub(value: Any, redact: Callable[[str], str] | None = None) -> Any:
    """`value` (JSON-shaped: dicts, lists, strings) with every string redacted; keys are kept.

    `redact` defaults to every secret remembered so far, masked as `<secret>`.
    """
    redact = known().redact if redact is None else redact
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: scrub(v, redact) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, redact) for v in value]
    return value


# Every secret of the desired states this process has read: log lines and state files are
# scrubbed with them, whichever resource (or none) they are about.
_known = Secrets()
_known_lock = threading.Lock()


def remember(secrets: Secrets) -> None:
    """Add a container's secrets to those every log line and state file is scrubbed of."""
    global _known
    new = frozenset(v for v in secrets.values if _searched(v)) - _known.values
    if new:
        with _known_lock:
            _known = Secrets(_known.values | new)


def known() -> Secrets:
    """Every secret remembered so far."""
    return _known
