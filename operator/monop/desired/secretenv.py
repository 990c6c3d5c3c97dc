"""`secretEnvFrom` files: environment variables whose values are secrets, kept outside the desired tree.

The format is podman's `--env-file`: one `NAME=VALUE` per line, the value taken literally
to the end of the line (no quotes removed, nothing expanded); blank lines and lines
starting with `#` are skipped. The file must be a regular file owned by root (or by the
user monop runs as) that no group or other user may read or write: mode 0600 or 0400.
No message ever quotes a value, or a line that could be one.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

MAX_BYTES = 64 << 10  # a file of secrets, not a data set
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


class SecretFileError(ValueError):
    """A secretEnvFrom file monop refuses; the message names the file (and line), never a value."""


def read_env_file(path: Path) -> dict[str, str]:
    """`{NAME: VALUE}` from `path`; raises SecretFileError saying what is wrong and how to fix it."""
    return _parse(read_secret_text(path, "secrets", SecretFileError), path)


def read_secret_text(path: Path, holds: str = "secrets", error: type[ValueError] = SecretFileError) -> str:
    """The UTF-8 text of a file that holds secrets, if it is kept as one must be: a regular file
    owned by root or monop's user, mode 0600 or 0400, at most MAX_BYTES. Raises `error`,
    whose message says what is wrong and how to fix it (`holds`: "secrets", "a secret")."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError as err:
        raise error(f"{path}: cannot read: {err.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)  # fdopen refuses a directory before its kind could be said
        raise error(f"{path}: not a regular file")
    with os.fdopen(fd, "rb") as file:
        if info.st_mode & 0o077:
            raise error(
                f"{path}: group or others may read or write it (mode {stat.S_IMODE(info.st_mode):04o}); "
                f"it holds {holds}: chmod 600 {path}"
            )
        if info.st_uid not in (0, os.geteuid()):
            raise error(f"{path}: owned by uid {info.st_uid}, not by root or the user monop runs as")
        raw = file.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise error(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None


def _parse(text: str, path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    first: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise SecretFileError(f"{path}:{number}: not a NAME=VALUE line")
        if not _NAME.match(name):
            raise SecretFileError(f"{path}:{number}: the part before '=' is not an environment variable name")
        if name in first:
            raise SecretFileError(f"{path}:{number}: {name} is given again (first on line {first[name]})")
        first[name] = number
        out[name] = value
    return out
